/**
 * Reading the directory from Microsoft Graph for the sync: collections followed page by page, delta
 * rounds, and Graph's answers turned into the sync's own errors. The HTTP rules (Retry-After on 429
 * and 503, one token renewal on 401) are the delivery layer's GraphClient's; this file decides what
 * its errors mean for a sync run.
 *
 * - Paging (https://learn.microsoft.com/graph/paging): `@odata.nextLink` is followed as is until a
 *   page has none; a delta round ends with `@odata.deltaLink` instead
 *   (https://learn.microsoft.com/graph/delta-query-overview: "a page can't contain both").
 * - Links go back only to the configured Graph origin: the bearer token is never sent elsewhere.
 * - An expired delta token: 400 `syncStateNotFound` for directory objects (delta links of identity
 *   resources last seven days, devblogs.microsoft.com "Duration of change tracking tokens for identity
 *   and education resources"), 410 Gone / `resyncRequired` elsewhere → DeltaExpiredError.
 */
import { GraphClient } from '../delivery/graph/client';
import { PermanentDeliveryError, TransientDeliveryError } from '../delivery/types';
import { redact } from '../log';

export type SyncErrorCode = 'forbidden' | 'unauthorized' | 'group_not_found' | 'token' | 'graph';

/** The sync cannot run until an administrator acts (permissions, group id, app registration). */
export class DirectorySyncError extends Error {
  constructor(
    readonly code: SyncErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'DirectorySyncError';
  }
}

/** Graph is throttling or unavailable for longer than a run should wait: stop, the next run resumes. */
export class SyncInterruptedError extends Error {
  constructor(
    message: string,
    readonly retryAfterSeconds?: number,
  ) {
    super(message);
    this.name = 'SyncInterruptedError';
  }
}

/** The stored delta token is no longer valid: the round must start again from the beginning. */
export class DeltaExpiredError extends Error {
  constructor(readonly code: string) {
    super(`Microsoft Graph no longer knows the delta token (${code}).`);
    this.name = 'DeltaExpiredError';
  }
}

/** A user or group that does not exist (any more). */
export class GraphNotFoundError extends Error {
  constructor() {
    super('Microsoft Graph answered 404: the object does not exist.');
    this.name = 'GraphNotFoundError';
  }
}

export interface GraphPage<T> {
  value: T[];
  '@odata.nextLink'?: string;
  '@odata.deltaLink'?: string;
}

const EXPIRED_CODES = new Set(['syncStateNotFound', 'resyncRequired', 'syncStateInvalid']);
const HANDLED = [400, 403, 404, 410] as const;

export const REQUIRED_PERMISSIONS = 'User.Read.All and GroupMember.Read.All';

/**
 * A Graph client for the sync: app-only tokens from `getToken` (client credentials); a failure to
 * get one is a DirectorySyncError naming what went wrong, without the token or secret.
 */
export function directoryGraphClient(baseUrl: string, getToken: (resource: string, forceRefresh: boolean) => Promise<string>): GraphClient {
  // App-only tokens are asked for `<Graph origin>/.default` (https://graph.microsoft.com or a national cloud's).
  const resource = new URL(baseUrl).origin;
  return new GraphClient({
    baseUrl,
    token: async (forceRefresh) => {
      try {
        return await getToken(resource, forceRefresh);
      } catch (err) {
        const e = err as { message?: string };
        throw new DirectorySyncError('token', `No application token for Microsoft Graph: ${redact(e.message ?? String(err))}`);
      }
    },
  });
}

export class DirectoryGraph {
  private readonly origin: string;

  constructor(private readonly client: GraphClient) {
    this.origin = new URL(client.baseUrl).origin;
  }

  /** True when `link` points at the configured Graph (a stored link from another GRAPH_BASE_URL is not used). */
  ownsLink(link: string): boolean {
    try {
      return new URL(link).origin === this.origin;
    } catch {
      return false;
    }
  }

  /** GET a path or a link Graph gave, as JSON; Graph's refusals as the sync's errors. */
  async get<T>(pathOrLink: string): Promise<T> {
    if (/^https?:\/\//.test(pathOrLink) && !this.ownsLink(pathOrLink)) {
      throw new DirectorySyncError(
        'graph',
        `Microsoft Graph returned a link to another host (${new URL(pathOrLink).host}); it is not followed.`,
      );
    }
    let res: Response;
    try {
      res = await this.client.request(pathOrLink, { accept: HANDLED });
    } catch (err) {
      if (err instanceof DirectorySyncError) throw err;
      if (err instanceof TransientDeliveryError) throw new SyncInterruptedError(err.message, err.retryAfterSeconds);
      if (err instanceof PermanentDeliveryError) {
        const unauthorized = /answered 401/.test(err.message);
        throw new DirectorySyncError(unauthorized ? 'unauthorized' : 'graph', redact(err.message));
      }
      throw err;
    }
    if (res.ok) return (await res.json()) as T;
    const { code, message } = await graphError(res);
    if (res.status === 410 || (res.status === 400 && EXPIRED_CODES.has(code))) throw new DeltaExpiredError(code || String(res.status));
    if (res.status === 404) throw new GraphNotFoundError();
    if (res.status === 403) {
      throw new DirectorySyncError(
        'forbidden',
        `Microsoft Graph refused the app (403 ${code || 'Forbidden'}): grant the app registration the application permissions ${REQUIRED_PERMISSIONS} (admin consent).`,
      );
    }
    throw new DirectorySyncError(
      'graph',
      `Microsoft Graph answered ${res.status}${code ? ` ${code}` : ''}${message ? `: ${message.slice(0, 300)}` : ''}`,
    );
  }

  /** Every page of a collection, following @odata.nextLink; the last page may carry a deltaLink. */
  async *pages<T>(first: string): AsyncGenerator<GraphPage<T>> {
    let link: string | undefined = first;
    while (link) {
      const page: GraphPage<T> = await this.get<GraphPage<T>>(link);
      yield page;
      link = page['@odata.nextLink'];
    }
  }

  /** Every id of a collection of directory objects (all pages). */
  async ids(first: string): Promise<string[]> {
    const out: string[] = [];
    for await (const page of this.pages<{ id: string }>(first)) for (const o of page.value) out.push(o.id.toLowerCase());
    return out;
  }
}

async function graphError(res: Response): Promise<{ code: string; message: string }> {
  try {
    const body = (await res.json()) as { error?: { code?: string; message?: string } };
    return { code: String(body.error?.code ?? ''), message: String(body.error?.message ?? '') };
  } catch {
    return { code: '', message: '' };
  }
}
