/**
 * The multipart reader's state machine: it finds delimiters in the body as it streams, hands
 * each text field and file on (files as streams with backpressure), enforces the limits, and on
 * the first failure destroys every open file stream and settles once every handler has.
 */
import type { Readable } from 'node:stream';
import type { ScanLimits } from '../../config';
import { type AppError, BadRequestError, PayloadTooLargeError } from '../../errors';
import { PartStream } from './partStream';
import { capitalize, malformed, parseContentType, parseDisposition, parseHeaders, shorten, tooLarge } from './headers';

export interface FilePart {
  /** 0-based position among the request's files. */
  index: number;
  field: string;
  /** The sender's file name as decoded (RFC 5987 `filename*` and raw UTF-8 included). */
  filename: string;
  declaredType: string;
  /**
   * The file's first bytes (up to SNIFF_BYTES, fewer only when the file is shorter; empty for
   * an empty file), however the network split them. They are also the start of `stream`.
   */
  head: Buffer;
  stream: Readable;
  /** Aborted when the request fails elsewhere: stop writing. */
  signal: AbortSignal;
}

export interface PartHandlers {
  /** A text field; may throw (or reject) an AppError to fail the request. */
  onField(name: string, value: string): void | Promise<void>;
  /** A file; must consume `part.stream`; a rejection fails the request. */
  onFile(part: FilePart): Promise<void>;
}

/** How many first bytes of a file are gathered before it is handed on (content sniffing). */
export const SNIFF_BYTES = 16;
/** Longest field name accepted, in bytes. */
export const MAX_FIELD_NAME_BYTES = 200;
/** Largest header section of one part. */
const MAX_PART_HEADER_BYTES = 16 * 1024;
/** Longest transport padding after a delimiter. */
const MAX_PADDING_BYTES = 1024;

type State = 'preamble' | 'padding' | 'headers' | 'field' | 'file' | 'epilogue';

export class Reader {
  private readonly delimiter: Buffer;
  private readonly abort = new AbortController();
  private readonly pending: Array<Promise<void>> = [];
  /** File streams not closed yet: destroyed together when the request fails. */
  private readonly openFiles = new Set<PartStream>();
  private failure: unknown;
  private answered = false;
  private settle!: { resolve: () => void; reject: (e: unknown) => void };
  private state: State = 'preamble';
  /**
   * Bytes received but not yet parsed. The first `lead` of them end the previous section (the
   * CRLF before a part's body, or the one a body without preamble lacks): never content, but
   * they may begin a delimiter.
   */
  private buf: Buffer = Buffer.from('\r\n');
  private lead = 2;
  private bytesSeen = 0;
  private partNumber = 0;
  private fileCount = 0;
  private fieldCount = 0;
  private paddingSeen = 0;
  private field?: { name: string; charset: string; chunks: Buffer[]; size: number };
  private file?: { part: FilePart; stream: PartStream; announced: boolean; headChunks: Buffer[]; headSize: number };

  constructor(
    private readonly body: Readable,
    boundary: string,
    private readonly limits: ScanLimits,
    private readonly handlers: PartHandlers,
    private readonly signal?: AbortSignal,
  ) {
    this.delimiter = Buffer.from(`\r\n--${boundary}`, 'latin1');
  }

  run(): Promise<void> {
    const outcome = new Promise<void>((resolve, reject) => (this.settle = { resolve, reject }));
    if (this.signal?.aborted) this.fail(this.signal.reason);
    this.signal?.addEventListener('abort', () => this.fail(this.signal!.reason), { once: true });
    void this.read().then(
      () => this.answer(),
      (err: unknown) => this.fail(err),
    );
    return outcome;
  }

  /** Settles the outcome once every handler has settled (the body may still be draining). */
  private answer(): void {
    if (this.answered) return;
    this.answered = true;
    void Promise.allSettled(this.pending).then(() =>
      this.failure === undefined ? this.settle.resolve() : this.settle.reject(this.failure),
    );
  }

  private async read(): Promise<void> {
    const chunks = this.body[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
    for (;;) {
      let next: IteratorResult<Buffer>;
      try {
        next = await chunks.next();
      } catch {
        throw new BadRequestError('request_aborted', 'The request body stopped or ended before it was complete.');
      }
      if (next.done) break;
      if (this.failure !== undefined) continue; // discard the rest of the body
      this.bytesSeen += next.value.length;
      if (this.bytesSeen > this.limits.maxRequestBytes) {
        this.fail(tooLarge(this.limits));
        continue;
      }
      await this.append(next.value);
      await this.parse(false);
    }
    if (this.failure === undefined) await this.parse(true);
  }

  /**
   * Adds a chunk to `buf`. Inside a part, `buf` holds at most a delimiter's length of bytes
   * that could begin one; when none begins there, those bytes are content and the chunk becomes
   * `buf` as it is, uncopied (copying every chunk of a large file cost a fifth of the CPU).
   */
  private async append(chunk: Buffer): Promise<void> {
    const tail = this.buf.length;
    if (tail === 0) {
      this.buf = chunk;
      return;
    }
    if ((this.state === 'file' || this.state === 'field') && tail < this.delimiter.length && chunk.length > 4 * this.delimiter.length) {
      const at = Buffer.concat([this.buf, chunk.subarray(0, this.delimiter.length)]).indexOf(this.delimiter);
      if (at < 0 || at >= tail) {
        await this.contentUpTo(tail);
        if (this.failure === undefined) this.buf = chunk;
        return;
      }
    }
    this.buf = Buffer.concat([this.buf, chunk]);
  }

  /** Drops `n` parsed bytes from the front of `buf`. */
  private consume(n: number): void {
    this.buf = this.buf.subarray(n);
    this.lead = Math.max(0, this.lead - n);
  }

  /** Hands on `buf[lead, end)` as content, then drops `buf[0, end)`. */
  private async contentUpTo(end: number): Promise<void> {
    if (end > this.lead) await this.content(this.buf.subarray(this.lead, end));
    this.consume(end);
  }

  /** Consumes as much of `buf` as can be parsed; `atEnd` once the body is over. */
  private async parse(atEnd: boolean): Promise<void> {
    while (this.failure === undefined) {
      switch (this.state) {
        case 'preamble':
        case 'field':
        case 'file': {
          const at = this.buf.indexOf(this.delimiter);
          if (at < 0) {
            if (atEnd) throw this.truncated();
            // Keep what could be the start of a delimiter; the rest is content.
            await this.contentUpTo(Math.max(0, this.buf.length - (this.delimiter.length - 1)));
            return;
          }
          const after = at + this.delimiter.length;
          // Two more bytes tell a close delimiter, padding or CRLF from content.
          if (this.buf.length < after + 2 && !atEnd) {
            await this.contentUpTo(at);
            return;
          }
          const next = this.buf.subarray(after, after + 2).toString('latin1');
          if (next === '--' || next === '\r\n' || next[0] === ' ' || next[0] === '\t') {
            await this.contentUpTo(at);
            await this.endPart();
            this.consume(this.delimiter.length + (next === '--' ? 2 : 0));
            this.state = next === '--' ? 'epilogue' : 'padding';
            this.paddingSeen = 0;
            continue;
          }
          // Not a delimiter: those bytes are content (a delimiter cannot start inside them: it
          // begins with CR, which a boundary cannot contain).
          await this.contentUpTo(after);
          continue;
        }
        case 'padding': {
          let i = 0;
          while (i < this.buf.length && (this.buf[i] === 0x20 || this.buf[i] === 0x09)) i++;
          this.paddingSeen += i;
          this.consume(i);
          if (this.paddingSeen > MAX_PADDING_BYTES) throw malformed(`The padding after boundary ${this.partNumber + 1} is too long.`);
          if (this.buf.length < 2) {
            if (atEnd) throw this.truncated();
            return;
          }
          if (this.buf[0] !== 0x0d || this.buf[1] !== 0x0a) {
            throw malformed(`Boundary ${this.partNumber + 1} is followed by something other than a line break.`);
          }
          this.consume(2);
          this.state = 'headers';
          continue;
        }
        case 'headers': {
          // The header section ends with an empty line (at once when the part has no headers).
          // Its last CRLF may also begin the delimiter that ends an empty body.
          const end = this.buf[0] === 0x0d && this.buf[1] === 0x0a ? 0 : this.buf.indexOf('\r\n\r\n');
          if (end < 0 || end > MAX_PART_HEADER_BYTES) {
            if (end > 0 || this.buf.length > MAX_PART_HEADER_BYTES) {
              throw malformed(`The headers of part ${this.partNumber + 1} are longer than 16 KiB.`);
            }
            if (atEnd) throw this.truncated();
            return;
          }
          const block = this.buf.subarray(0, end);
          this.consume(end === 0 ? 0 : end + 2);
          this.lead = 2;
          this.startPart(block);
          continue;
        }
        case 'epilogue':
          this.consume(this.buf.length);
          return;
      }
    }
  }

  /** Bytes of the current part's body (or of the preamble, which is ignored). */
  private async content(bytes: Buffer): Promise<void> {
    if (bytes.length === 0 || this.state === 'preamble') return;
    if (this.state === 'field') {
      const f = this.field!;
      f.size += bytes.length;
      if (f.size > this.limits.maxFieldBytes) {
        throw new PayloadTooLargeError(
          'field_too_large',
          `Field '${shorten(f.name)}' is longer than the limit of ${this.limits.maxFieldBytes} bytes (SCAN_MAX_FIELD_BYTES).`,
        );
      }
      f.chunks.push(Buffer.from(bytes));
      return;
    }
    const file = this.file!;
    if (!file.announced) {
      file.headChunks.push(bytes);
      file.headSize += bytes.length;
      if (file.headSize >= SNIFF_BYTES) await this.announce();
      return;
    }
    await file.stream.write(bytes);
  }

  /** Hands a file on once its first bytes are known (or it ended). */
  private async announce(): Promise<void> {
    const file = this.file!;
    file.announced = true;
    const head = Buffer.concat(file.headChunks);
    file.headChunks = [];
    file.part.head = head.subarray(0, SNIFF_BYTES);
    this.track(this.handlers.onFile(file.part));
    if (head.length) await file.stream.write(head);
  }

  private startPart(block: Buffer): void {
    this.partNumber++;
    const headers = parseHeaders(block, this.partNumber);
    const disposition = headers.get('content-disposition');
    if (disposition === undefined) {
      throw malformed(`Part ${this.partNumber} has no Content-Disposition header; every part must be "form-data" with a name.`);
    }
    const disp = parseDisposition(disposition, this.partNumber);
    const label = disp.name ? `part ${this.partNumber} ('${shorten(disp.name)}')` : `part ${this.partNumber}`;
    if (disp.type !== 'form-data') {
      throw malformed(`The Content-Disposition of ${label} is '${shorten(disp.type)}'; a multipart/form-data part must be "form-data".`);
    }
    if (!disp.name) {
      throw new BadRequestError('unnamed_part', `Part ${this.partNumber} has no name (Content-Disposition: form-data; name="...").`);
    }
    if (Buffer.byteLength(disp.name, 'utf8') > MAX_FIELD_NAME_BYTES) {
      throw new BadRequestError('field_name_too_long', `The name of part ${this.partNumber} is longer than ${MAX_FIELD_NAME_BYTES} bytes.`);
    }
    const encoding = headers.get('content-transfer-encoding')?.toLowerCase();
    if (encoding !== undefined && !['7bit', '8bit', 'binary'].includes(encoding)) {
      throw new BadRequestError(
        'unsupported_transfer_encoding',
        `${capitalize(label)} has Content-Transfer-Encoding '${shorten(encoding)}'; send parts unencoded (RFC 7578 §4.7).`,
      );
    }
    const type = parseContentType(headers.get('content-type'));
    if (disp.filename !== undefined || type.mediaType === 'application/octet-stream') {
      if (++this.fileCount > this.limits.maxFiles) {
        throw new BadRequestError('too_many_files', `The request has more than ${this.limits.maxFiles} files (SCAN_MAX_FILES).`);
      }
      const stream = new PartStream();
      // Destroying a part on failure emits 'error'; the failure is already being handled.
      stream.on('error', () => undefined);
      this.openFiles.add(stream);
      stream.once('close', () => this.openFiles.delete(stream));
      this.file = {
        stream,
        announced: false,
        headChunks: [],
        headSize: 0,
        part: {
          index: this.fileCount - 1,
          field: disp.name,
          filename: disp.filename ?? '',
          declaredType: type.mediaType ?? 'application/octet-stream',
          head: Buffer.alloc(0),
          stream,
          signal: this.abort.signal,
        },
      };
      this.state = 'file';
    } else {
      if (++this.fieldCount > this.limits.maxFields) {
        throw new BadRequestError('too_many_fields', `The request has more than ${this.limits.maxFields} fields (SCAN_MAX_FIELDS).`);
      }
      this.field = { name: disp.name, charset: type.charset ?? 'utf-8', chunks: [], size: 0 };
      this.state = 'field';
    }
  }

  private async endPart(): Promise<void> {
    if (this.state === 'field') {
      const f = this.field!;
      this.field = undefined;
      let value: string;
      try {
        value = new TextDecoder(f.charset).decode(Buffer.concat(f.chunks));
      } catch {
        throw new BadRequestError(
          'unsupported_charset',
          `Field '${shorten(f.name)}' has charset '${shorten(f.charset)}', which is not supported; send UTF-8.`,
        );
      }
      try {
        this.track(this.handlers.onField(f.name, value));
      } catch (err) {
        this.fail(err);
      }
    } else if (this.state === 'file') {
      if (!this.file!.announced) await this.announce();
      this.file!.stream.push(null);
      this.file = undefined;
    }
  }

  private track(work: void | Promise<void>): void {
    if (work) this.pending.push(work.catch((err: unknown) => this.fail(err)));
  }

  private fail(err: unknown): void {
    if (this.failure !== undefined) return;
    this.failure = err ?? new Error('The request was aborted.');
    this.abort.abort(this.failure);
    const reason = this.failure instanceof Error ? this.failure : new Error(String(this.failure));
    for (const stream of this.openFiles) stream.destroy(reason);
    this.file = undefined;
    this.field = undefined;
    this.answer();
  }

  private truncated(): AppError {
    const where =
      this.state === 'file'
        ? ` inside file '${shorten(this.file!.part.filename || this.file!.part.field)}'`
        : this.state === 'field'
          ? ` inside field '${shorten(this.field!.name)}'`
          : this.state === 'preamble'
            ? ' before the first boundary'
            : '';
    return malformed(`The body ended${where} without the closing boundary; the request is incomplete.`);
  }
}
