import { Readable } from 'node:stream';

/** A file part's bytes as a stream; `write` waits while the consumer is behind. */
export class PartStream extends Readable {
  private wake?: () => void;

  override _read(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }

  override _destroy(err: Error | null, callback: (error?: Error | null) => void): void {
    this._read();
    callback(err);
  }

  /** Pushes bytes; resolves once the consumer wants more (at once when it was destroyed). */
  async write(bytes: Buffer): Promise<void> {
    if (this.destroyed) return;
    if (!this.push(bytes)) {
      await new Promise<void>((resolve) => (this.wake = resolve));
    }
  }
}
