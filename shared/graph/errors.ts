/**
 * What a Microsoft Graph request can fail with, typed: an answer Graph gave (GraphError, with its
 * status, Graph's error code, the wait it asked for and its request id), or no answer at all
 * (GraphUnreachableError). What a failure means for a delivery, a sync run or the app-registration
 * tool is for each of them to decide; nothing here knows them.
 */

/**
 * An error answer from Graph: the HTTP status, and from the body `{ error: { code, message,
 * innerError } }` (https://learn.microsoft.com/graph/errors) its code and message. `message` is a
 * reason for a person: `Microsoft Graph answered <status> <code>: <Graph's message>`.
 */
export class GraphError extends Error {
  constructor(
    readonly status: number,
    /** Graph's error code (`itemNotFound`, `syncStateNotFound`...), '' when the body had none. */
    readonly code: string,
    /** Graph's own message ('' when the body had none). */
    readonly graphMessage: string,
    /**
     * On a throttled or unavailable answer (429, 502, 503, 504): the seconds Graph asked to wait
     * (`Retry-After`), or the first back-off step when it did not say. Undefined otherwise.
     */
    readonly retryAfterSeconds: number | undefined,
    /** Graph's id of the request (`request-id` header), what Microsoft support asks for. */
    readonly requestId: string | undefined,
  ) {
    super(`Microsoft Graph answered ${status}${code ? ` ${code}` : ''}${graphMessage ? `: ${graphMessage.slice(0, 300)}` : ''}`);
    this.name = new.target.name;
  }

  /** Worth trying again later: throttling (429), a timeout (408) or a server-side failure (5xx). */
  get retryable(): boolean {
    return this.status === 429 || this.status === 408 || this.status >= 500;
  }
}

/**
 * No answer: the connection failed, timed out, or the server's TLS certificate was refused. `cause`
 * is fetch's error (for TLS, Node's error is its own `cause`); `url` is where the request went.
 */
export class GraphUnreachableError extends Error {
  constructor(
    readonly url: string,
    cause: unknown,
  ) {
    super(`Microsoft Graph could not be reached: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
    this.name = new.target.name;
  }
}

/** Status codes retried after `Retry-After` (https://learn.microsoft.com/graph/throttling, https://learn.microsoft.com/graph/errors). */
export const RETRYABLE_STATUSES: ReadonlySet<number> = new Set([429, 502, 503, 504]);

/** Retry-After in seconds (delta form; an HTTP date is honoured too), else 1, 2, 4, 8... up to 30. */
export function retryAfterSeconds(res: Response, attempt: number): number {
  const header = res.headers.get('retry-after');
  if (header) {
    const n = Number(header);
    if (Number.isFinite(n) && n >= 0) return n;
    const at = Date.parse(header);
    if (!Number.isNaN(at)) return Math.max(0, Math.ceil((at - Date.now()) / 1000));
  }
  return Math.min(2 ** attempt, 30);
}

/**
 * The GraphError of an error answer (its body is read). The request id comes from the
 * `request-id` header (or `client-request-id`, or the body's innerError), which Graph sends with
 * every answer (https://learn.microsoft.com/graph/best-practices-concept#reliability-and-support).
 */
export async function graphErrorOf(res: Response): Promise<GraphError> {
  let error: { code?: unknown; message?: unknown; innerError?: Record<string, unknown> } | undefined;
  try {
    error = ((await res.json()) as { error?: typeof error }).error;
  } catch {
    // not JSON
  }
  const requestId =
    res.headers.get('request-id') ?? res.headers.get('client-request-id') ?? text(error?.innerError?.['request-id']) ?? undefined;
  return new GraphError(
    res.status,
    text(error?.code) ?? '',
    text(error?.message) ?? '',
    RETRYABLE_STATUSES.has(res.status) ? retryAfterSeconds(res, 0) : undefined,
    requestId,
  );
}

const text = (v: unknown) => (typeof v === 'string' ? v : undefined);
