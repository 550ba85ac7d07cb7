import type { Readable } from 'node:stream';
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
   * for a stream destroyed without an error). The blob is committed only after the stream's
   * end, so a stream that fails leaves none (staged blocks are discarded by the service).
   */
  async upload(blobName: string, data: Readable, options: UploadOptions): Promise<void> {
    const ended = finished(data);
    ended.catch(() => undefined);
    await this.ready();
    await Promise.all([
      ended,
      this.container.getBlockBlobClient(blobName).uploadStream(data, UPLOAD_BUFFER_BYTES, UPLOAD_CONCURRENCY, {
        blobHTTPHeaders: {
          blobContentType: options.contentType,
          blobContentDisposition: contentDisposition(options.originalName),
        },
        metadata: { originalname: encodeURIComponent(options.originalName) },
      }),
    ]);
  }

  /** Opens a stored file for streaming reads. */
  async download(blobName: string): Promise<Readable> {
    const res = await this.container.getBlobClient(blobName).download();
    return res.readableStreamBody as Readable;
  }

  /** Deletes every blob of a job (a partial, duplicate or abandoned upload); fails if one stays. */
  async deleteJob(jobId: string): Promise<void> {
    await this.ready();
    for await (const blob of this.container.listBlobsFlat({ prefix: `${jobId}/` })) {
      await unlessStatus(this.container.deleteBlob(blob.name, { deleteSnapshots: 'include' }), 404);
    }
  }
}

/** `attachment` with an ASCII fallback and the exact name in RFC 5987 form. */
function contentDisposition(name: string): string {
  const ascii = name.replace(/[^\x20-\x7e]|["\\]/g, '_') || 'scan';
  return `attachment; filename="${ascii}"; filename*=UTF-8''${encodeURIComponent(name)}`;
}
