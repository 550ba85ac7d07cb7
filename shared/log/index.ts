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

export const consoleLogger: Logger = {
  info: (m, p) => console.info(m, p ?? ''),
  warn: (m, p) => console.warn(m, p ?? ''),
  error: (m, p) => console.error(m, p ?? ''),
};

/** A safe one-line description of an error for a log line (no stack, no request data). */
export function describeError(err: unknown): Record<string, unknown> {
  const e = err as { name?: string; code?: string; statusCode?: number; message?: string };
  return { error: e?.name ?? typeof err, code: e?.code, status: e?.statusCode, message: e?.message };
}
