/**
 * The local host builds HttpRequest the way the Functions worker does in streaming mode (a native
 * Request plus params, not the constructor's public buffered init). This test fails if a new
 * @azure/functions stops honouring that shape: the body must come through as a stream, piece by
 * piece, before the sender has finished.
 */
import { PassThrough } from 'node:stream';
import { streamingRequest } from '../../host/local/server';

it('a request built from a native Request streams its body and keeps its params', async () => {
  const source = new PassThrough();
  const nativeRequest = new Request('http://localhost/api/items/42?x=1', {
    method: 'POST',
    headers: { 'content-type': 'application/octet-stream' },
    body: source,
    duplex: 'half',
  });
  const request = streamingRequest({ nativeRequest, params: { id: '42' } });
  expect([request.method, request.url, request.params, request.query.get('x')]).toEqual([
    'POST',
    'http://localhost/api/items/42?x=1',
    { id: '42' },
    '1',
  ]);
  const reader = request.body!.getReader();
  source.write(Buffer.from('first'));
  // The first piece arrives while the body is still open: nothing was buffered whole.
  expect(Buffer.from((await reader.read()).value).toString()).toBe('first');
  source.end(Buffer.from('second'));
  expect(Buffer.from((await reader.read()).value).toString()).toBe('second');
  expect((await reader.read()).done).toBe(true);
});
