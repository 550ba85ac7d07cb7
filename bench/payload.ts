/**
 * Benchmark payloads, generated as streams: a file is a PDF header followed by a precomputed
 * 1 MiB pseudo-random block repeated (sliced into 64 KiB chunks, never copied), and a request
 * body is multipart/form-data framing around such files. Nothing is ever held in memory whole.
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';

export const KiB = 1024;
export const MiB = 1024 * KiB;

/** Size of the chunks handed to the consumer (what a socket read typically yields). */
const CHUNK_BYTES = 64 * KiB;
const BLOCK_BYTES = MiB;
const PDF_HEADER = Buffer.from('%PDF-1.7\n');

/** Random (so nothing along the way can compress it), made once per process: every file reuses it. */
const BLOCK: Buffer = (() => {
  const block = randomBytes(BLOCK_BYTES);
  PDF_HEADER.copy(block, 0);
  return block;
})();

/** The `i`-th chunk of a generated file of `size` bytes: a view into BLOCK, no copy. */
function* fileChunks(size: number): Generator<Buffer> {
  let offset = 0;
  while (offset < size) {
    const inBlock = offset % BLOCK_BYTES;
    const n = Math.min(CHUNK_BYTES, BLOCK_BYTES - inBlock, size - offset);
    yield BLOCK.subarray(inBlock, inBlock + n);
    offset += n;
  }
}

/** A generated file of `size` bytes as a Readable (the same bytes for the same size). */
export function fileStream(size: number): Readable {
  return Readable.from(fileChunks(size), { objectMode: false, highWaterMark: CHUNK_BYTES });
}

/** SHA-256 (hex) of the generated file of `size` bytes, as ScanRelay should report it. */
export function fileSha256(size: number): string {
  const hash = createHash('sha256');
  for (const chunk of fileChunks(size)) hash.update(chunk);
  return hash.digest('hex');
}

export interface MultipartBody {
  contentType: string;
  /** Exact body length, for Content-Length. */
  length: number;
  /** A fresh stream of the body (call once per request). */
  stream(): Readable;
}

/**
 * A multipart/form-data body with the text fields a printer's scan workflow sends, then one
 * file part per entry of `fileSizes`. Each call makes a new scanJobID, as a printer does.
 */
export function multipartBody(fileSizes: readonly number[], extraFields: Readonly<Record<string, string>> = {}): MultipartBody {
  const boundary = `----scanrelaybench${randomUUID().replace(/-/g, '')}`;
  const fields: Record<string, string> = {
    username: 'bench',
    scanJobID: randomUUID(),
    deviceName: 'bench-device',
    ...extraFields,
  };
  const head: Buffer[] = [];
  for (const [name, value] of Object.entries(fields)) {
    head.push(Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="${name}"\r\n\r\n${value}\r\n`));
  }
  const fileHeaders = fileSizes.map((_, i) =>
    Buffer.from(
      `--${boundary}\r\nContent-Disposition: form-data; name="file${i + 1}"; filename="scan-${i + 1}.pdf"\r\n` +
        `Content-Type: application/pdf\r\n\r\n`,
    ),
  );
  const crlf = Buffer.from('\r\n');
  const tail = Buffer.from(`--${boundary}--\r\n`);
  const fieldBytes = head.reduce((n, b) => n + b.length, 0);
  const length =
    fieldBytes + fileHeaders.reduce((n, b) => n + b.length, 0) + fileSizes.reduce((n, s) => n + s + crlf.length, 0) + tail.length;

  function* chunks(): Generator<Buffer> {
    yield Buffer.concat(head);
    for (let i = 0; i < fileSizes.length; i++) {
      yield fileHeaders[i]!;
      yield* fileChunks(fileSizes[i]!);
      yield crlf;
    }
    yield tail;
  }
  return {
    contentType: `multipart/form-data; boundary=${boundary}`,
    length,
    stream: () => Readable.from(chunks(), { objectMode: false, highWaterMark: CHUNK_BYTES }),
  };
}
