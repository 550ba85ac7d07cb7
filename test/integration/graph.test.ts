/**
 * The one Microsoft Graph client (shared/graph) against a scripted HTTP server: typed errors with
 * Graph's code and request id, Retry-After waited (a longer one handed back), one token renewal
 * on 401, no Authorization header where `auth: false`, and no answer at all.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { GraphClient, GraphError, GraphUnreachableError } from '../../shared/graph';

type Answer = (req: IncomingMessage, res: ServerResponse) => void;

let server: Server;
let baseUrl: string;
let answers: Answer[] = [];
let seen: IncomingMessage[] = [];

const graphError =
  (status: number, code: string, headers: Record<string, string> = {}): Answer =>
  (_req, res) => {
    res.writeHead(status, { 'content-type': 'application/json', ...headers });
    res.end(JSON.stringify({ error: { code, message: `${code} happened`, innerError: { 'request-id': 'body-request-id' } } }));
  };
const ok: Answer = (_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');

beforeAll(async () => {
  server = createServer((req, res) => {
    seen.push(req);
    (answers.shift() ?? ok)(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1.0`;
});
afterAll(() => new Promise((resolve) => server.close(resolve)));
beforeEach(() => {
  answers = [];
  seen = [];
});

function client(o: { waits?: number[]; tokens?: boolean[] } = {}) {
  return new GraphClient({
    baseUrl,
    token: async (forceRefresh) => {
      o.tokens?.push(forceRefresh);
      return forceRefresh ? 'renewed' : 'first';
    },
    sleep: async (ms) => void o.waits?.push(ms),
  });
}

it('an error answer is a GraphError with status, code, the request-id header and no wait', async () => {
  answers = [graphError(404, 'itemNotFound', { 'request-id': 'header-request-id' })];
  const err = await client()
    .request('/me/drive')
    .catch((e: unknown) => e);
  expect(err).toBeInstanceOf(GraphError);
  expect(err).toMatchObject({
    status: 404,
    code: 'itemNotFound',
    requestId: 'header-request-id',
    retryAfterSeconds: undefined,
    retryable: false,
    message: 'Microsoft Graph answered 404 itemNotFound: itemNotFound happened',
  });
});

it('without the header, the request id comes from client-request-id or the body', async () => {
  answers = [graphError(400, 'badRequest', { 'client-request-id': 'client-id' }), graphError(400, 'badRequest')];
  await expect(client().request('/a')).rejects.toMatchObject({ requestId: 'client-id' });
  await expect(client().request('/b')).rejects.toMatchObject({ requestId: 'body-request-id' });
});

it('waits out Retry-After up to 60 s, four times; the fifth throttled answer is handed back with its wait', async () => {
  const waits: number[] = [];
  answers = [1, 2, 3, 4, 5].map(() => graphError(429, 'TooManyRequests', { 'retry-after': '7' }));
  const err = await client({ waits })
    .request('/me/drive')
    .catch((e: unknown) => e);
  expect(waits).toEqual([7000, 7000, 7000, 7000]);
  expect(err).toMatchObject({ status: 429, retryAfterSeconds: 7, retryable: true });
  expect(seen).toHaveLength(5);
});

it('a Retry-After longer than 60 s is not waited: the GraphError carries it', async () => {
  const waits: number[] = [];
  answers = [graphError(503, 'serviceNotAvailable', { 'retry-after': '3600' })];
  await expect(client({ waits }).request('/me/drive')).rejects.toMatchObject({ status: 503, retryAfterSeconds: 3600 });
  expect(waits).toEqual([]);
});

it('renews the token once on 401; a second 401 is a GraphError', async () => {
  const tokens: boolean[] = [];
  answers = [graphError(401, 'InvalidAuthenticationToken'), ok];
  await expect(client({ tokens }).json('/me')).resolves.toEqual({ ok: true });
  expect(tokens).toEqual([false, true]);
  expect(seen.map((r) => r.headers.authorization)).toEqual(['Bearer first', 'Bearer renewed']);

  answers = [graphError(401, 'InvalidAuthenticationToken'), graphError(401, 'InvalidAuthenticationToken')];
  await expect(client().request('/me')).rejects.toMatchObject({ status: 401, code: 'InvalidAuthenticationToken' });
});

it('sends no Authorization header with auth: false, and returns the statuses the caller accepts', async () => {
  answers = [graphError(416, 'invalidRange')];
  const res = await client().request(`${baseUrl}/upload?token=x`, { method: 'PUT', auth: false, body: Buffer.from('abc'), accept: [416] });
  expect(res.status).toBe(416);
  await res.body?.cancel();
  expect(seen[0]!.headers.authorization).toBeUndefined();
});

it('the token source failing is its own error, and no request is sent', async () => {
  const failing = new GraphClient({ baseUrl, token: () => Promise.reject(new RangeError('no token')) });
  await expect(failing.request('/me')).rejects.toThrow(RangeError);
  expect(seen).toHaveLength(0);
});

it('no answer at all is a GraphUnreachableError naming where the request went', async () => {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const port = (probe.address() as AddressInfo).port;
  await new Promise((resolve) => probe.close(resolve));
  const gone = new GraphClient({ baseUrl: `http://127.0.0.1:${port}/v1.0`, token: async () => 't' });
  const err = await gone.request('/me').catch((e: unknown) => e);
  expect(err).toBeInstanceOf(GraphUnreachableError);
  expect(err).toMatchObject({
    url: `http://127.0.0.1:${port}/v1.0/me`,
    message: expect.stringMatching(/^Microsoft Graph could not be reached/),
  });
});
