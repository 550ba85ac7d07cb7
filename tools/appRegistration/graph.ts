/** A minimal Microsoft Graph client: plain fetch, bearer token from a TokenCredential, Graph errors as exceptions. */
import type { TokenCredential } from '@azure/identity';

export class GraphRequestError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'GraphRequestError';
  }
}

export interface GraphClientOptions {
  baseUrl: string;
  credential: TokenCredential;
  /** Waits between retries; tests make it instant. */
  sleep?: (ms: number) => Promise<void>;
}

const RETRYABLE = new Set([429, 502, 503, 504]);

export class GraphClient {
  private readonly scope: string;
  private readonly sleep: (ms: number) => Promise<void>;

  constructor(private readonly options: GraphClientOptions) {
    // The token's audience is the Graph host: https://graph.microsoft.com/.default (or a national cloud's).
    this.scope = `${new URL(options.baseUrl).origin}/.default`;
    this.sleep = options.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms)));
  }

  get<T>(path: string): Promise<T> {
    return this.request<T>('GET', path);
  }

  post<T>(path: string, body: unknown): Promise<T> {
    return this.request<T>('POST', path, body);
  }

  patch(path: string, body: unknown): Promise<void> {
    return this.request<void>('PATCH', path, body);
  }

  async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    const url = `${this.options.baseUrl}${path}`;
    for (let attempt = 1; ; attempt++) {
      const token = await this.options.credential.getToken(this.scope);
      if (!token) throw new Error(`No access token for ${this.scope}.`);
      let res: Response;
      try {
        res = await fetch(url, {
          method,
          headers: {
            authorization: `Bearer ${token.token}`,
            accept: 'application/json',
            ...(body === undefined ? {} : { 'content-type': 'application/json' }),
          },
          body: body === undefined ? undefined : JSON.stringify(body),
        });
      } catch (err) {
        throw new Error(`Microsoft Graph ${method} ${path}: ${(err as Error).message}`, { cause: err });
      }
      if (RETRYABLE.has(res.status) && attempt < 4) {
        const retryAfter = Number(res.headers.get('retry-after'));
        await res.arrayBuffer();
        await this.sleep(Number.isFinite(retryAfter) && retryAfter > 0 ? Math.min(retryAfter, 30) * 1000 : 1000 * 2 ** attempt);
        continue;
      }
      const text = await res.text();
      if (!res.ok) {
        let code = `HTTP ${res.status}`;
        let message = text.slice(0, 300);
        try {
          const e = (JSON.parse(text) as { error?: { code?: string; message?: string } }).error;
          if (e?.code) code = e.code;
          if (e?.message) message = e.message;
        } catch {
          // not JSON: keep the text
        }
        throw new GraphRequestError(res.status, code, `Microsoft Graph ${method} ${path} answered ${res.status} ${code}: ${message}`);
      }
      return (text ? JSON.parse(text) : undefined) as T;
    }
  }
}

/** An OData string literal: quotes doubled. */
export function odataString(value: string): string {
  return `'${value.replace(/'/g, "''")}'`;
}
