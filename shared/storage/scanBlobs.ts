import { Readable } from 'node:stream';
import { finished } from 'node:stream/promises';
import type { ContainerClient } from '@azure/storage-blob';
import { once, unlessStatus } from './clients';

export const SCAN_CONTAINER = 'scans';

/**
 * Upload buffer size and parallel block uploads per file: a file in flight holds at most
 * (UPLOAD_CONCURRENCY + 1) buffers, ~20 MiB; a file smaller than one buffer is held whole.
 */
export const UPLOAD_BUFFER_BYTES = 4 * 1024 * 1024;
export const UPLOAD_CONCURRENCY = 4;

export interface UploadOptions {
  contentType: string;
  /** The sender's file name: metadata only, never part of the blob's path. */
  originalName: string;
}

/** Scan files in Blob Storage, one virtual folder per job: `<jobId>/<index>`. */
export class ScanBlobStore {
  readonly ready: () => Promise<void>;

  constructor(private readonly container: ContainerClient) {
    this.ready = once(() => container.createIfNotExists());
  }

  /** The blob name of a job's n-th file. Built from server-side values only. */
  static blobName(jobId: string, index: number): string {
    return `${jobId}/${index}`;
  }

  /**
   * Streams `data` into a block blob; memory stays bounded whatever the file's size. Rejects
   * when `data` fails or is destroyed before its end (uploadStream alone would wait for ever
   * for a stream destroyed without an error). The blob is written only after the stream's end,
   * so a stream that fails leaves none.
   *
   * A file no larger than one upload buffer (most scans) is one Put Blob: it is held whole anyway,
   * and the SDK's uploadStream would stage it as a block and commit the block list, two round
   * trips. A larger one is streamed by uploadStream, its first buffer included (staged blocks
   * that are never committed are discarded by the service).
   */
  async upload(blobName: string, data: Readable, options: UploadOptions): Promise<void> {
    const ended = finished(data);
    ended.catch(() => undefined);
    await this.ready();
    const blob = this.container.getBlockBlobClient(blobName);
    const headers = {
      blobHTTPHeaders: {
        blobContentType: options.contentType,
        blobContentDisposition: attachmentDisposition(options.originalName),
      },
      metadata: { originalname: encodeURIComponent(options.originalName) },
    };
    const head = await readHead(data, UPLOAD_BUFFER_BYTES);
    if (head.ended) {
      const body = Buffer.concat(head.chunks, head.size);
      await blob.upload(body, body.length, headers);
      return;
    }
    const rest = Readable.from(
      (async function* () {
        yield* head.chunks;
        for await (const chunk of data) yield chunk as Buffer;
      })(),
      { objectMode: false },
    );
    await Promise.all([ended, blob.uploadStream(rest, UPLOAD_BUFFER_BYTES, UPLOAD_CONCURRENCY, headers)]);
  }

  /** Opens a stored file for streaming reads. */
  async download(blobName: string): Promise<Readable> {
    const res = await this.container.getBlobClient(blobName).download();
    return res.readableStreamBody as Readable;
  }

  /** Opens a stored file for streaming reads, with its length; undefined when it is gone. */
  async open(blobName: string): Promise<{ stream: Readable; contentLength?: number } | undefined> {
    const res = await unlessStatus(this.container.getBlobClient(blobName).download(), 404);
    return res && { stream: res.readableStreamBody as Readable, contentLength: res.contentLength };
  }

  /** Deletes every blob of a job (a partial, duplicate or abandoned upload); fails if one stays. */
  async deleteJob(jobId: string): Promise<void> {
    await this.ready();
    for await (const blob of this.container.listBlobsFlat({ prefix: `${jobId}/` })) {
      await unlessStatus(this.container.deleteBlob(blob.name, { deleteSnapshots: 'include' }), 404);
    }
  }
}

/**
 * Reads `stream` until it ends or more than `limit` bytes came, leaving the rest unread: the
 * chunks read, their size, and whether that was the whole stream. Rejects when the stream fails,
 * or is destroyed before its end.
 */
function readHead(stream: Readable, limit: number): Promise<{ chunks: Buffer[]; size: number; ended: boolean }> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const done = (settle: () => void) => {
      stream.off('readable', onReadable);
      stream.off('end', onEnd);
      stream.off('error', onError);
      stream.off('close', onClose);
      settle();
    };
    const onReadable = () => {
      let chunk: Buffer | null;
      while (size <= limit && (chunk = stream.read() as Buffer | null) !== null) {
        chunks.push(chunk);
        size += chunk.length;
      }
      if (size > limit) done(() => resolve({ chunks, size, ended: false }));
    };
    const onEnd = () => done(() => resolve({ chunks, size, ended: true }));
    const onError = (err: Error) => done(() => reject(err));
    const onClose = () => {
      if (!stream.readableEnded) done(() => reject(new Error('The file stream was closed before its end.')));
    };
    if (stream.readableEnded) return resolve({ chunks, size, ended: true });
    if (stream.destroyed) return reject(stream.errored ?? new Error('The file stream was closed before its end.'));
    stream.on('readable', onReadable);
    stream.on('end', onEnd);
    stream.on('error', onError);
    stream.on('close', onClose);
  });
}

/**
 * `Content-Disposition: attachment` for a sender's file name (RFC 6266): an ASCII `filename`
 * fallback first, then the exact name as `filename*` in RFC 5987 form (UTF-8, every byte that is
 * not an attr-char percent-encoded; encodeURIComponent alone leaves `'()*` as they are).
 * Control characters, lone surrogates and path separators become `_` in both; the fallback also loses quotes,
 * backslashes, `%` and anything outside printable ASCII. Names are cut to 200 characters.
 */
export function attachmentDisposition(name: string): string {
  const clean = Array.from(name.replace(/[\p{Cc}\p{Cs}\p{Zl}\p{Zp}/\\]/gu, '_'))
    .slice(0, 200)
    .join('');
  const ascii = clean.replace(/[^\x20-\x7e]|["%]/g, '_').trim() || 'scan';
  const encoded = encodeURIComponent(clean || 'scan').replace(/['()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
  return `attachment; filename="${ascii}"; filename*=UTF-8''${encoded}`;
}
