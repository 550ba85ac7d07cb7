/**
 * The one Microsoft Graph client: fetch with a bearer token, and the service's documented rules
 * handled in one place, for every caller (delivery connectors, directory sync, the
 * app-registration tool).
 *
 * - 429 and 503 (and 502/504) are retried after `Retry-After` seconds, or a short back-off when
 *   the header is missing (https://learn.microsoft.com/graph/throttling: "wait the number of
 *   seconds specified in the Retry-After header"), at most `maxRetries` times; a wait longer than
 *   `maxWaitSeconds` is not slept here: the GraphError carries it, for the caller to hand on (a
 *   queue retry, the next timer run).
 * - 401 once: the token is renewed (`token(true)`) and the request sent again; a second 401 is a
 *   GraphError like any other.
 * - Any other answer that is neither 2xx nor in `accept` is a GraphError; no answer at all is a
 *   GraphUnreachableError. Errors of the token source itself pass through as they are.
 * - Upload and download URLs are pre-authenticated: `auth: false` sends no Authorization header.
 */
import { setTimeout as delay } from 'node:timers/promises';
import { graphErrorOf, GraphUnreachableError, RETRYABLE_STATUSES, retryAfterSeconds } from './errors';

/** An access token for Graph; `forceRefresh` after Graph refused the last one. */
export type TokenSource = (forceRefresh: boolean) => Promise<string>;

export interface GraphClientOptions {
  /** e.g. https://graph.microsoft.com/v1.0 */
  baseUrl: string;
  token: TokenSource;
  /** How many times a throttled or unavailable request is retried (default 4). */
  maxRetries?: number;
  /** The longest Retry-After waited here (default 60 s); a longer one is handed back in the GraphError. */
  maxWaitSeconds?: number;
  /** Per-request timeout (default 120 s). */
  timeoutMs?: number;
  /** Waits between retries (tests make them instant). */
  sleep?: (ms: number) => Promise<void>;
}

export interface GraphRequest {
  method?: string;
  /** JSON body (sent with Content-Type: application/json). */
  json?: unknown;
  body?: Buffer | Uint8Array;
  headers?: Record<string, string>;
  /** false for pre-authenticated URLs (upload sessions, downloads): no Authorization header. */
  auth?: boolean;
  /** Statuses the caller handles itself (returned, not thrown). */
  accept?: readonly number[];
}

export class GraphClient {
  readonly baseUrl: string;
  private readonly maxRetries: number;
  private readonly maxWaitSeconds: number;
  private readonly timeoutMs: number;
  private readonly sleep: (ms: number) => Promise<void>;

  constructor(private readonly options: GraphClientOptions) {
    this.baseUrl = options.baseUrl.replace(/\/+$/, '');
    this.maxRetries = options.maxRetries ?? 4;
    this.maxWaitSeconds = options.maxWaitSeconds ?? 60;
    this.timeoutMs = options.timeoutMs ?? 120_000;
    this.sleep = options.sleep ?? ((ms) => delay(ms));
  }

  /** A path below the base URL (`/me/drive`) or an absolute URL (upload URLs, next links). */
  url(pathOrUrl: string): string {
    return /^https?:\/\//.test(pathOrUrl) ? pathOrUrl : `${this.baseUrl}${pathOrUrl}`;
  }

  /** Sends a request; returns the response when it is 2xx or accepted, throws a GraphError otherwise. */
  async request(pathOrUrl: string, req: GraphRequest = {}): Promise<Response> {
    const auth = req.auth ?? true;
    const url = this.url(pathOrUrl);
    let renewed = false;
    for (let attempt = 0; ; attempt++) {
      const headers: Record<string, string> = { ...req.headers };
      if (auth) headers.authorization = `Bearer ${await this.options.token(renewed)}`;
      let body: string | Uint8Array | undefined;
      if (req.json !== undefined) {
        headers['content-type'] = 'application/json';
        body = JSON.stringify(req.json);
      } else if (req.body) body = req.body;
      let res: Response;
      try {
        // `as`: lib.dom's BodyInit (in a compile that includes it: the app-registration tool's own
        // test build) takes only ArrayBuffer-backed views, which every Buffer here is.
        const sent = body as RequestInit['body'];
        res = await fetch(url, { method: req.method ?? 'GET', headers, body: sent, signal: AbortSignal.timeout(this.timeoutMs) });
      } catch (err) {
        throw new GraphUnreachableError(url, err);
      }
      if (res.ok || req.accept?.includes(res.status)) return res;
      if (res.status === 401 && auth && !renewed) {
        await res.body?.cancel();
        renewed = true;
        continue;
      }
      if (RETRYABLE_STATUSES.has(res.status)) {
        const wait = retryAfterSeconds(res, attempt);
        if (attempt < this.maxRetries && wait <= this.maxWaitSeconds) {
          await res.body?.cancel();
          await this.sleep(wait * 1000);
          continue;
        }
      }
      throw await graphErrorOf(res);
    }
  }

  /** Sends a request and reads the answer as JSON. */
  async json<T>(pathOrUrl: string, req: GraphRequest = {}): Promise<T> {
    const res = await this.request(pathOrUrl, req);
    return (await res.json()) as T;
  }

  /** Sends a request whose answer has nothing to read (204, or a body nobody needs). */
  async send(pathOrUrl: string, req: GraphRequest = {}): Promise<void> {
    const res = await this.request(pathOrUrl, req);
    await res.body?.cancel();
  }
}

/**
 * An OData string literal for a Graph query option (`$filter=appId eq '...'`): single quotes
 * doubled (https://learn.microsoft.com/graph/filter-query-parameter#escaping-single-quotes).
 */
export function odataString(value: string): string {
  return `'${value.replace(/'/g, "''")}'`;
}
