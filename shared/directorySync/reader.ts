/**
 * Reading Entra ID through Microsoft Graph for the sync: collections followed page by page, and
 * Graph's errors turned into the sync's own (./errors.ts). The HTTP rules (Retry-After on 429
 * and 503, one token renewal on 401) are the one Graph client's (shared/graph); this file decides
 * what its errors mean for a sync run.
 *
 * - Paging (https://learn.microsoft.com/graph/paging): `@odata.nextLink` is followed as is until a
 *   page has none; a delta round ends with `@odata.deltaLink` instead
 *   (https://learn.microsoft.com/graph/delta-query-overview: "a page can't contain both").
 * - Links go back only to the configured Graph origin: the bearer token is never sent elsewhere.
 * - An expired delta token: 400 `syncStateNotFound` for directory objects (delta links of identity
 *   resources last seven days, devblogs.microsoft.com "Duration of change tracking tokens for identity
 *   and education resources"), 410 Gone / `resyncRequired` elsewhere → DeltaExpiredError.
 * - Throttled or unavailable for longer than the client waits, or no answer: SyncInterruptedError
 *   (the next run resumes); a refused TLS certificate names the certificate, as delivery does.
 */
import { graphCertificateRefused } from '../delivery/tls';
import { GraphClient, GraphError, GraphUnreachableError } from '../graph';
import { redact } from '../log';
import { DeltaExpiredError, DirectorySyncError, GraphNotFoundError, SyncInterruptedError } from './errors';

export interface GraphPage<T> {
  value: T[];
  '@odata.nextLink'?: string;
  '@odata.deltaLink'?: string;
}

const EXPIRED_CODES = new Set(['syncStateNotFound', 'resyncRequired', 'syncStateInvalid']);

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
        const message = err instanceof Error ? err.message : String(err);
        throw new DirectorySyncError('token', `No application token for Microsoft Graph: ${redact(message)}`);
      }
    },
  });
}

/** The sync's reading of Graph: GETs of paths and of the links Graph gave, as JSON, with the sync's errors. */
export class EntraReader {
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
    try {
      return await this.client.json<T>(pathOrLink);
    } catch (err) {
      throw await syncError(err);
    }
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

/** What a Graph failure means for a sync run; anything else (the token source's DirectorySyncError) as it is. */
async function syncError(err: unknown): Promise<unknown> {
  if (err instanceof GraphUnreachableError) {
    const refused = await graphCertificateRefused(err.cause, err.url);
    return refused ? new DirectorySyncError('graph', redact(refused.message)) : new SyncInterruptedError(err.message);
  }
  if (!(err instanceof GraphError)) return err;
  if (err.status === 410 || (err.status === 400 && EXPIRED_CODES.has(err.code)))
    return new DeltaExpiredError(err.code || String(err.status));
  if (err.status === 404) return new GraphNotFoundError();
  if (err.status === 403) {
    return new DirectorySyncError(
      'forbidden',
      `Microsoft Graph refused the app (403 ${err.code || 'Forbidden'}): grant the app registration the application permissions ${REQUIRED_PERMISSIONS} (admin consent).`,
    );
  }
  if (err.retryable) return new SyncInterruptedError(err.message, err.retryAfterSeconds);
  if (err.status === 401) {
    return new DirectorySyncError(
      'unauthorized',
      redact(`${err.message}. The token was refused twice: authorize the connection again or grant the permission.`),
    );
  }
  return new DirectorySyncError('graph', redact(err.message));
}
