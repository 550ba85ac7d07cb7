/**
 * A streaming multipart/form-data reader (RFC 7578 over RFC 2046 §5.1), written for this
 * endpoint's promise: every part of the body is either handed on or refused with a 400 that
 * names it. Nothing is skipped silently.
 *
 * - Delimiters are `CRLF--boundary` followed by optional transport padding (spaces and tabs)
 *   and CRLF, or by `--` for the close delimiter. `--boundary` followed by anything else is not
 *   a delimiter (RFC 2046's grammar) and stays part of the content.
 * - Each part needs `Content-Disposition: form-data` with a non-empty `name`. A part with a
 *   `filename` parameter (even an empty one) or the type application/octet-stream is a file;
 *   any other part is a text field. Parameters are read leniently where the meaning is plain
 *   (spaces around `=`, a trailing parameter without a value, raw characters in `filename*`);
 *   anything else that cannot be read is a 400.
 * - The body is read only as fast as file parts are consumed (backpressure), and every limit is
 *   checked while reading.
 *
 * (busboy, used before, skips parts without a form-data disposition, does not accept transport
 * padding, treats `--boundary` followed by any byte as a delimiter and has no field-name limit;
 * none of these can be changed from outside it.)
 */
import type { Readable } from 'node:stream';
import type { ScanLimits } from '../../config';
import { boundaryOf, tooLarge } from './headers';
import { Reader, type PartHandlers } from './reader';

export { boundaryOf } from './headers';
export { MAX_FIELD_NAME_BYTES, SNIFF_BYTES, type FilePart, type PartHandlers } from './reader';

/**
 * Reads a multipart/form-data body, handing each part to `handlers` as it arrives. Resolves
 * when every part was handled; rejects with the first failure once every handler has settled
 * (so a caller can clean up knowing nothing is still writing). After a failure the rest of the
 * body is read and discarded, so that a sender that writes its whole body before reading gets
 * the answer. `signal` fails the request from outside.
 */
export function parseMultipart(
  body: Readable,
  contentType: string | undefined,
  contentLength: number | undefined,
  limits: ScanLimits,
  handlers: PartHandlers,
  signal?: AbortSignal,
): Promise<void> {
  const boundary = boundaryOf(contentType);
  if (contentLength !== undefined && contentLength > limits.maxRequestBytes) throw tooLarge(limits);
  return new Reader(body, boundary, limits, handlers, signal).run();
}
