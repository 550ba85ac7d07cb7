/**
 * A small Microsoft Graph client for the delivery connectors (OneDrive, SharePoint, Graph mail):
 * fetch with a bearer token, and the service's documented rules handled in one place.
 *
 * - 429 and 503 (and 502/504) are retried after `Retry-After` seconds (or a short back-off when the
 *   header is missing), a few times; a wait longer than `maxWaitSeconds` is not slept in the
 *   function: it becomes a TransientDeliveryError carrying the delay, and the queue retries later.
 * - 401 once: the token is renewed (`forceRefresh`) and the request sent again; a second 401 is
 *   permanent (the connection or the app lacks the permission, an administrator must act).
 * - Other errors: Graph's `{ error: { code, message } }` becomes the reason; 4xx is permanent,
 *   5xx transient. Network errors are transient, except a server certificate that fails
 *   verification (a GRAPH_BASE_URL with a private CA, a TLS-inspecting proxy): permanent at
 *   once, naming the certificate (../tls.ts); its CA can be trusted with NODE_EXTRA_CA_CERTS.
 * - Upload URLs are pre-authenticated: `auth: false` sends no Authorization header to them.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { certificateError, certificateRefused } from '../tls';
import { PermanentDeliveryError, TransientDeliveryError } from '../types';

export type TokenSource = (forceRefresh: boolean) => Promise<string>;

export interface GraphClientOptions {
  /** e.g. https://graph.microsoft.com/v1.0 */
  baseUrl: string;
  token: TokenSource;
  /** How many times a throttled or unavailable request is retried in the same run. */
  maxRetries?: number;
  /** The longest Retry-After slept here; longer ones go back to the queue. */
  maxWaitSeconds?: number;
  /** Per-request timeout. */
  timeoutMs?: number;
}

export interface GraphRequest {
  method?: string;
  /** JSON body (sent with Content-Type: application/json). */
  json?: unknown;
  body?: Buffer | Uint8Array;
  headers?: Record<string, string>;
  /** false for pre-authenticated URLs (upload sessions): no Authorization header. */
  auth?: boolean;
  /** Statuses the caller handles itself (returned, not thrown). */
  accept?: readonly number[];
}

const RETRYABLE = new Set([429, 502, 503, 504]);

export class GraphClient {
  readonly baseUrl: string;
  private readonly maxRetries: number;
  private readonly maxWaitSeconds: number;
  private readonly timeoutMs: number;

  constructor(private readonly options: GraphClientOptions) {
    this.baseUrl = options.baseUrl.replace(/\/+$/, '');
    this.maxRetries = options.maxRetries ?? 4;
    this.maxWaitSeconds = options.maxWaitSeconds ?? 60;
    this.timeoutMs = options.timeoutMs ?? 120_000;
  }

  /** A path below the base URL (`/me/drive`) or an absolute URL (upload URLs, next links). */
  url(pathOrUrl: string): string {
    return /^https?:\/\//.test(pathOrUrl) ? pathOrUrl : `${this.baseUrl}${pathOrUrl}`;
  }

  /** Sends a request; returns the response when it is 2xx or accepted, throws a delivery error otherwise. */
  async request(pathOrUrl: string, req: GraphRequest = {}): Promise<Response> {
    const auth = req.auth ?? true;
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
      const url = this.url(pathOrUrl);
      try {
        res = await fetch(url, { method: req.method ?? 'GET', headers, body, signal: AbortSignal.timeout(this.timeoutMs) });
      } catch (err) {
        // fetch's "fetch failed" carries Node's TLS error as its cause: a refused certificate is permanent.
        if (certificateError(err)) {
          const { hostname, host, port } = new URL(url);
          const refused = await certificateRefused(err, {
            label: `Microsoft Graph at ${host}`,
            target: { host: hostname, port: Number(port) || 443, timeoutMs: this.timeoutMs },
            hostOption: 'GRAPH_BASE_URL',
          });
          if (refused) throw refused;
        }
        throw new TransientDeliveryError('destination_unavailable', `Microsoft Graph could not be reached: ${(err as Error).message}`);
      }
      if (res.ok || req.accept?.includes(res.status)) return res;
      if (res.status === 401 && auth && !renewed) {
        await res.body?.cancel();
        renewed = true;
        continue;
      }
      if (RETRYABLE.has(res.status)) {
        const wait = retryAfterSeconds(res, attempt);
        if (attempt < this.maxRetries && wait <= this.maxWaitSeconds) {
          await res.body?.cancel();
          await sleep(wait * 1000);
          continue;
        }
      }
      throw await toDeliveryError(res);
    }
  }

  async json<T>(pathOrUrl: string, req: GraphRequest = {}): Promise<T> {
    const res = await this.request(pathOrUrl, req);
    return (await res.json()) as T;
  }
}

/** Retry-After in seconds (delta form; an HTTP date is honoured too), else 1, 2, 4, 8... */
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

/** Graph's error body as a delivery error: 4xx permanent (401/403 say what to do), 5xx and 429 transient. */
export async function toDeliveryError(res: Response): Promise<Error> {
  let code = '';
  let message = '';
  try {
    const body = (await res.json()) as { error?: { code?: string; message?: string } };
    code = String(body.error?.code ?? '');
    message = String(body.error?.message ?? '');
  } catch {
    // not JSON
  }
  const reason = `Microsoft Graph answered ${res.status}${code ? ` ${code}` : ''}${message ? `: ${message.slice(0, 300)}` : ''}`;
  if (res.status === 429 || res.status >= 500 || res.status === 408) {
    return new TransientDeliveryError(
      res.status === 429 ? 'destination_throttled' : 'destination_unavailable',
      reason,
      RETRYABLE.has(res.status) ? retryAfterSeconds(res, 0) : undefined,
    );
  }
  if (res.status === 401)
    return new PermanentDeliveryError(
      'authentication_failed',
      `${reason}. The token was refused twice: authorize the connection again or grant the permission.`,
    );
  if (res.status === 403)
    return new PermanentDeliveryError('permission_denied', `${reason}. The account or app lacks the permission for this destination.`);
  return Object.assign(new PermanentDeliveryError('destination_refused', reason), { status: res.status, graphCode: code });
}

/** The status and Graph error code of a delivery error made by toDeliveryError, if any. */
export function graphStatus(err: unknown): { status?: number; code?: string } {
  const e = err as { status?: number; graphCode?: string };
  return { status: e?.status, code: e?.graphCode };
}
