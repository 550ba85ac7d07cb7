import { createHash, type Hash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { PayloadTooLargeError } from '../errors';

/**
 * Passes a file's bytes through unchanged while counting them and hashing them (SHA-256),
 * and fails the stream as soon as the file grows past its limit.
 */
export class FileMeter extends Transform {
  private readonly hash: Hash = createHash('sha256');
  size = 0;

  /**
   * `endAfter`: the stream ends only once this resolves (fails if it rejects). The upload commits
   * the blob only after the stream's end, so whatever it stands for exists before the blob does.
   */
  constructor(
    private readonly maxBytes: number,
    private readonly label: string,
    private readonly endAfter?: Promise<unknown>,
  ) {
    super();
  }

  override _flush(done: TransformCallback): void {
    if (!this.endAfter) return done();
    this.endAfter.then(
      () => done(),
      (err: Error) => done(err),
    );
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.size += chunk.length;
    if (this.size > this.maxBytes) {
      done(
        new PayloadTooLargeError(
          'file_too_large',
          `File ${this.label} is larger than the limit of ${this.maxBytes} bytes (SCAN_MAX_FILE_BYTES).`,
        ),
      );
      return;
    }
    this.hash.update(chunk);
    done(null, chunk);
  }

  /** The hex SHA-256 of everything that passed; call once, after the stream ended. */
  digest(): string {
    return this.hash.digest('hex');
  }
}

/** Recognises the scan formats from their first bytes, since senders mislabel them. */
export function sniffContentType(head: Buffer): string | undefined {
  if (head.subarray(0, 5).toString('latin1') === '%PDF-') return 'application/pdf';
  if (head[0] === 0xff && head[1] === 0xd8 && head[2] === 0xff) return 'image/jpeg';
  const tiff = head.subarray(0, 4).toString('latin1');
  if (tiff === 'II*\0' || tiff === 'MM\0*') return 'image/tiff';
  if (head.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]))) return 'image/png';
  return undefined;
}
