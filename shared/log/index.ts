/**
 * The logger the core writes to. Lines carry ids, counts, sizes and error codes: never a
 * secret, a token, a field value or a file's content.
 */
export interface Logger {
  info(message: string, props?: Record<string, unknown>): void;
  warn(message: string, props?: Record<string, unknown>): void;
  error(message: string, props?: Record<string, unknown>): void;
}

export const silentLogger: Logger = { info() {}, warn() {}, error() {} };

const SECRET_PATTERNS: RegExp[] = [
  /(AccountKey|SharedAccessSignature|SharedAccessKey|password|pwd|client_secret|refresh_token|access_token|code)=([^;&\s"']+)/gi,
  /([?&]sig=)([^&\s"']+)/gi,
  /(Bearer\s+)([A-Za-z0-9._~+/=-]+)/gi,
];

/** Masks credentials that SDK error messages may carry (keys, SAS signatures, tokens). */
export function redact(text: string): string {
  return SECRET_PATTERNS.reduce(
    (t, re) => t.replace(re, (_m, k: string) => `${k}${k.endsWith('=') || /\s$/.test(k) ? '' : '='}[redacted]`),
    text,
  );
}

/** What describeError tells of an error. */
export interface ErrorDescription {
  [key: string]: unknown;
  error: string;
  code?: string;
  status?: number;
  message?: string;
}

/** A safe one-line description of an error for a log line (no stack, no request data, no credentials). */
export function describeError(err: unknown): ErrorDescription {
  const e = err as { name?: string; code?: string; statusCode?: number; message?: string };
  return {
    error: e?.name ?? typeof err,
    code: e?.code,
    status: e?.statusCode,
    message: typeof e?.message === 'string' ? redact(e.message) : undefined,
  };
}
