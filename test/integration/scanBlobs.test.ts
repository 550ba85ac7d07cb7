/**
 * The scan blob store against Azurite: a file no larger than one upload buffer is one Put Blob
 * (no block list: issue 17, one round trip instead of stage + commit), a larger one is streamed
 * in blocks; either way the content arrives intact, and a stream that fails or is destroyed
 * before its end leaves no blob.
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { PassThrough, Readable } from 'node:stream';
import { SCAN_CONTAINER, ScanBlobStore, UPLOAD_BUFFER_BYTES } from '../../shared/storage';
import { startStack, type TestStack } from '../helpers/env';

let stack: TestStack;
beforeAll(async () => {
  stack = await startStack();
});
afterAll(async () => {
  await stack?.stop();
});

const store = () => stack.services.storage.scanBlobs;
const container = () => stack.services.storage.clients.container(SCAN_CONTAINER);
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const options = { contentType: 'application/pdf', originalName: 'Scan – März.pdf' };

/** The data in chunks of `chunk` bytes, as a request body arrives. */
function chunked(data: Buffer, chunk = 64 * 1024): Readable {
  const parts: Buffer[] = [];
  for (let i = 0; i < data.length; i += chunk) parts.push(data.subarray(i, i + chunk));
  return Readable.from(parts, { objectMode: false });
}

async function stored(name: string): Promise<{ content: Buffer; committedBlocks: number; contentType?: string }> {
  const blob = container().getBlockBlobClient(name);
  const [content, list, props] = await Promise.all([blob.downloadToBuffer(), blob.getBlockList('committed'), blob.getProperties()]);
  return { content, committedBlocks: list.committedBlocks?.length ?? 0, contentType: props.contentType };
}

it.each([
  ['100 KiB', 100 * 1024],
  ['exactly one buffer', UPLOAD_BUFFER_BYTES],
  ['one byte', 1],
])('%s: one Put Blob (no block list), the content and headers intact', async (_what, size) => {
  const data = randomBytes(size);
  const name = ScanBlobStore.blobName(randomUUID(), 0);
  await store().upload(name, chunked(data), options);
  const s = await stored(name);
  expect(s.committedBlocks).toBe(0);
  expect(sha(s.content)).toBe(sha(data));
  expect(s.contentType).toBe('application/pdf');
});

it('one byte more than a buffer: streamed in blocks, the first buffer included, intact', async () => {
  const data = randomBytes(2 * UPLOAD_BUFFER_BYTES + 1);
  const name = ScanBlobStore.blobName(randomUUID(), 0);
  await store().upload(name, chunked(data), options);
  const s = await stored(name);
  expect(s.committedBlocks).toBe(3);
  expect(sha(s.content)).toBe(sha(data));
});

it.each([
  ['fails before the end of a small file', 100 * 1024, 'error'],
  ['is destroyed without an error before the end of a small file', 100 * 1024, 'destroy'],
  ['fails after the first buffer of a large file', UPLOAD_BUFFER_BYTES + 512 * 1024, 'error'],
])('a stream that %s: rejected, no blob left', async (_what, before, how) => {
  const name = ScanBlobStore.blobName(randomUUID(), 0);
  const source = new PassThrough();
  const upload = store().upload(name, source, options);
  const data = randomBytes(before);
  for (let i = 0; i < data.length; i += 64 * 1024) {
    if (!source.write(data.subarray(i, i + 64 * 1024))) await new Promise((r) => source.once('drain', r));
  }
  await new Promise((r) => setImmediate(r));
  if (how === 'error') source.destroy(new Error('the sender went away'));
  else source.destroy();
  await expect(upload).rejects.toThrow();
  expect(await container().getBlockBlobClient(name).exists()).toBe(false);
});
