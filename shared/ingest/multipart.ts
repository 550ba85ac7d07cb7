import { Transform, type Readable, type TransformCallback } from 'node:stream';
import busboy from 'busboy';
import type { ScanLimits } from '../config';
import { BadRequestError, PayloadTooLargeError, UnsupportedMediaTypeError } from '../errors';

export interface FilePart {
  /** 0-based position among the request's files. */
  index: number;
  field: string;
  /** The sender's file name as decoded (RFC 5987 `filename*` and raw UTF-8 included). */
  filename: string;
  declaredType: string;
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

/** Longest field name accepted, in bytes. */
const MAX_FIELD_NAME_BYTES = 200;

/**
 * Streams a multipart/form-data body through busboy, handing each part to `handlers` as it
 * arrives. Resolves when every part was handled; rejects with the first failure, after every
 * handler has settled (so a caller can clean up knowing nothing is still writing).
 */
export function parseMultipart(
  body: Readable,
  contentType: string | undefined,
  contentLength: number | undefined,
  limits: ScanLimits,
  handlers: PartHandlers,
): Promise<void> {
  checkContentType(contentType);
  if (contentLength !== undefined && contentLength > limits.maxRequestBytes) {
    throw tooLarge(limits);
  }
  let parser: busboy.Busboy;
  try {
    parser = busboy({
      headers: { 'content-type': contentType! },
      defParamCharset: 'utf8',
      preservePath: true,
      limits: {
        files: limits.maxFiles,
        fields: limits.maxFields,
        parts: limits.maxFiles + limits.maxFields,
        fieldSize: limits.maxFieldBytes,
        fieldNameSize: MAX_FIELD_NAME_BYTES,
      },
    });
  } catch (err) {
    throw new BadRequestError('malformed_content_type', `Content-Type cannot be parsed: ${(err as Error).message}.`);
  }

  return new Promise<void>((resolve, reject) => {
    const abort = new AbortController();
    const counter = new ByteLimit(limits);
    const pending: Promise<void>[] = [];
    const openFiles = new Set<Readable>();
    let failure: unknown;
    let finishing = false;
    let fileIndex = 0;

    const finish = () => {
      if (finishing) return;
      finishing = true;
      void Promise.allSettled(pending).then(() => (failure === undefined ? resolve() : reject(failure)));
    };
    const fail = (err: unknown) => {
      if (failure !== undefined) return;
      failure = err;
      abort.abort(err);
      body.unpipe(counter);
      counter.unpipe(parser);
      for (const s of openFiles) s.destroy(err as Error);
      body.resume(); // discard the rest of the body
      finish();
    };
    const track = (work: void | Promise<void>) => {
      if (work) pending.push(work.catch(fail));
    };

    parser.on('field', (name, value, info) => {
      if (failure !== undefined) return;
      if (info.nameTruncated) {
        return fail(new BadRequestError('field_name_too_long', `A field name is longer than ${MAX_FIELD_NAME_BYTES} bytes.`));
      }
      if (info.valueTruncated) {
        return fail(
          new PayloadTooLargeError(
            'field_too_large',
            `Field '${name}' is longer than the limit of ${limits.maxFieldBytes} bytes (SCAN_MAX_FIELD_BYTES).`,
          ),
        );
      }
      try {
        track(handlers.onField(name, value));
      } catch (err) {
        fail(err);
      }
    });
    parser.on('file', (field, stream, info) => {
      if (failure !== undefined) return void stream.resume();
      openFiles.add(stream);
      stream.once('close', () => openFiles.delete(stream));
      // Destroying a part on failure emits 'error'; the failure is already being handled, and a
      // part still waiting for its turn has no listener of its own yet.
      stream.on('error', () => undefined);
      const part: FilePart = {
        index: fileIndex++,
        field,
        filename: info.filename ?? '',
        declaredType: info.mimeType || 'application/octet-stream',
        stream,
        signal: abort.signal,
      };
      track(handlers.onFile(part));
    });
    parser.on('filesLimit', () =>
      fail(new BadRequestError('too_many_files', `The request has more than ${limits.maxFiles} files (SCAN_MAX_FILES).`)),
    );
    parser.on('fieldsLimit', () =>
      fail(new BadRequestError('too_many_fields', `The request has more than ${limits.maxFields} fields (SCAN_MAX_FIELDS).`)),
    );
    parser.on('partsLimit', () =>
      fail(
        new BadRequestError(
          'too_many_parts',
          `The request has more than ${limits.maxFiles + limits.maxFields} parts (SCAN_MAX_FILES + SCAN_MAX_FIELDS).`,
        ),
      ),
    );
    parser.on('error', (err: Error) =>
      fail(new BadRequestError('malformed_multipart', `The multipart body is malformed or truncated (${err.message}).`)),
    );
    parser.on('close', finish);
    counter.on('error', fail);
    body.on('error', () =>
      fail(new BadRequestError('request_aborted', 'The request body ended before it was complete.')),
    );
    body.pipe(counter).pipe(parser);
  });
}

function checkContentType(contentType: string | undefined): void {
  if (!contentType) {
    throw new UnsupportedMediaTypeError('Content-Type is missing; send the scan job as multipart/form-data.');
  }
  if (!/^multipart\/form-data\s*(;|$)/i.test(contentType.trim())) {
    throw new UnsupportedMediaTypeError(
      `Content-Type '${contentType.split(';')[0]!.trim().slice(0, 100)}' is not accepted; send multipart/form-data.`,
    );
  }
  if (!/;\s*boundary=("[^"]+"|[^;\s]+)/i.test(contentType)) {
    throw new BadRequestError('missing_boundary', 'Content-Type multipart/form-data has no boundary parameter.');
  }
}

function tooLarge(limits: ScanLimits): PayloadTooLargeError {
  return new PayloadTooLargeError(
    'request_too_large',
    `The request is larger than the limit of ${limits.maxRequestBytes} bytes (SCAN_MAX_REQUEST_BYTES).`,
  );
}

/** Counts the body's bytes and fails once they pass the request limit. */
class ByteLimit extends Transform {
  private seen = 0;

  constructor(private readonly limits: ScanLimits) {
    super();
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.seen += chunk.length;
    if (this.seen > this.limits.maxRequestBytes) done(tooLarge(this.limits));
    else done(null, chunk);
  }
}
