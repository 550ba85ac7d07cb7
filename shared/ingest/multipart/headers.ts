/**
 * The header side of the multipart reader: the request's boundary, a part's header lines, and
 * the parameters of Content-Disposition and Content-Type (RFC 7578, RFC 2046, RFC 5987 for
 * `filename*`), read leniently where the meaning is plain and refused with a 400 otherwise.
 */
import type { ScanLimits } from '../../config';
import { BadRequestError, PayloadTooLargeError, UnsupportedMediaTypeError } from '../../errors';

export function malformed(message: string): BadRequestError {
  return new BadRequestError('malformed_multipart', message);
}

export function tooLarge(limits: ScanLimits): PayloadTooLargeError {
  return new PayloadTooLargeError(
    'request_too_large',
    `The request is larger than the limit of ${limits.maxRequestBytes} bytes (SCAN_MAX_REQUEST_BYTES).`,
  );
}

export function shorten(s: string): string {
  const clean = s.replace(/[\p{Cc}]/gu, '?');
  return clean.length > 80 ? `${clean.slice(0, 80)}…` : clean;
}

export function capitalize(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}

/** The boundary of a multipart/form-data Content-Type; 415/400 for anything else. */
export function boundaryOf(contentType: string | undefined): string {
  if (!contentType) {
    throw new UnsupportedMediaTypeError('Content-Type is missing; send the scan job as multipart/form-data.');
  }
  const type = parseContentType(contentType);
  if (type.mediaType !== 'multipart/form-data') {
    throw new UnsupportedMediaTypeError(
      `Content-Type '${shorten(contentType.split(';')[0]!.trim())}' is not accepted; send multipart/form-data.`,
    );
  }
  const boundary = type.params.get('boundary');
  if (boundary === undefined) throw new BadRequestError('missing_boundary', 'Content-Type multipart/form-data has no boundary parameter.');
  // RFC 2046 §5.1.1 allows 1 to 70 of `0-9A-Za-z'()+_,-./:=?` and space; senders stray a
  // little, so any printable ASCII up to 200 is taken (a CR would break delimiter matching).
  if (!/^[\x20-\x7e]{0,199}[\x21-\x7e]$/.test(boundary)) {
    throw new BadRequestError(
      'malformed_content_type',
      'The multipart boundary must be 1 to 200 printable ASCII characters (RFC 2046 §5.1.1).',
    );
  }
  return boundary;
}

/** A part's header section: names lower-cased; a header given twice is refused. */
export function parseHeaders(block: Buffer, part: number): Map<string, string> {
  const headers = new Map<string, string>();
  if (block.length === 0) return headers;
  const lines = new TextDecoder('utf-8').decode(block).split('\r\n');
  const unfolded: string[] = [];
  for (const line of lines) {
    // obs-fold (RFC 7230 §3.2.4): a line starting with a space or tab continues the previous one.
    if (/^[ \t]/.test(line) && unfolded.length) unfolded[unfolded.length - 1] += ' ' + line.trim();
    else unfolded.push(line);
  }
  for (const line of unfolded) {
    const m = /^([!#$%&'*+.^_`|~0-9A-Za-z-]+):[ \t]*(.*?)[ \t]*$/s.exec(line);
    if (!m || /[\0-\x08\x0a-\x1f\x7f]/.test(m[2]!)) throw malformed(`Part ${part} has a header line that cannot be read.`);
    const name = m[1]!.toLowerCase();
    if (headers.has(name)) throw malformed(`Part ${part} has the header ${m[1]} twice.`);
    headers.set(name, m[2]!);
  }
  return headers;
}

interface Parameters {
  value: string;
  params: Map<string, string>;
}

/**
 * `value *( ";" param )`, leniently: spaces around `;` and `=`, a parameter without a value
 * (ignored), an unquoted value running to the next `;` (raw characters included). An
 * unterminated quoted string, or a parameter given twice, cannot be read.
 */
function parseParameters(header: string, what: string): Parameters {
  let pos = 0;
  const skipSpace = () => {
    while (pos < header.length && (header[pos] === ' ' || header[pos] === '\t')) pos++;
  };
  const until = (stop: RegExp) => {
    const start = pos;
    while (pos < header.length && !stop.test(header[pos]!)) pos++;
    return header.slice(start, pos);
  };
  skipSpace();
  const value = until(/[;]/).trim();
  const params = new Map<string, string>();
  while (pos < header.length) {
    pos++; // ';'
    skipSpace();
    const name = until(/[=;]/).trim().toLowerCase();
    if (pos >= header.length || header[pos] === ';') continue; // no value: ignored
    pos++; // '='
    skipSpace();
    let v: string;
    if (header[pos] === '"') {
      pos++;
      v = '';
      for (;;) {
        if (pos >= header.length) throw malformed(`${what} has an unterminated quoted value.`);
        const c = header[pos++]!;
        if (c === '"') break;
        // quoted-pair, only before '"' or '\': Windows paths keep their backslashes.
        if (c === '\\' && (header[pos] === '"' || header[pos] === '\\')) v += header[pos++];
        else v += c;
      }
      skipSpace();
      if (pos < header.length && header[pos] !== ';') throw malformed(`${what} has text after a quoted value.`);
    } else {
      v = until(/[;]/).trim();
    }
    if (!name) throw malformed(`${what} has a parameter without a name.`);
    if (params.has(name)) throw malformed(`${what} has the parameter '${shorten(name)}' twice.`);
    params.set(name, v);
  }
  return { value, params };
}

export function parseDisposition(header: string, part: number): { type: string; name?: string; filename?: string } {
  const { value, params } = parseParameters(header, `The Content-Disposition of part ${part}`);
  let filename = params.get('filename');
  const extended = params.get('filename*');
  if (extended !== undefined) filename = decodeExtValue(extended) ?? filename ?? extended;
  return { type: value.toLowerCase(), name: params.get('name') || undefined, filename };
}

/** RFC 5987 `charset'language'value`; percent escapes decoded, stray raw characters kept. */
function decodeExtValue(v: string): string | undefined {
  const m = /^([A-Za-z0-9!#$%&+^_`{}~-]+)'[^']*'(.*)$/s.exec(v);
  if (!m) return undefined;
  const charset = m[1]!.toLowerCase();
  if (charset !== 'utf-8' && charset !== 'iso-8859-1') return undefined;
  const bytes: number[] = [];
  const raw = m[2]!;
  for (let i = 0; i < raw.length; i++) {
    if (raw[i] === '%' && /^[0-9A-Fa-f]{2}$/.test(raw.slice(i + 1, i + 3))) {
      bytes.push(parseInt(raw.slice(i + 1, i + 3), 16));
      i += 2;
    } else {
      bytes.push(...Buffer.from(raw[i]!, charset === 'utf-8' ? 'utf8' : 'latin1'));
    }
  }
  return Buffer.from(bytes).toString(charset === 'utf-8' ? 'utf8' : 'latin1');
}

/** `type/subtype` lower-cased when it is one, its charset and parameters. */
export function parseContentType(header: string | undefined): { mediaType?: string; charset?: string; params: Map<string, string> } {
  if (header === undefined) return { params: new Map() };
  let parsed: Parameters;
  try {
    parsed = parseParameters(header, 'Content-Type');
  } catch (err) {
    if (err instanceof BadRequestError) throw new BadRequestError('malformed_content_type', err.message);
    throw err;
  }
  const mediaType = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+\/[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(parsed.value)
    ? parsed.value.toLowerCase()
    : undefined;
  return { mediaType, charset: parsed.params.get('charset')?.toLowerCase(), params: parsed.params };
}
