/**
 * Microsoft Graph for the delivery connectors (OneDrive, SharePoint, Graph mail): the one client
 * (shared/graph: Retry-After waited up to 60 s, one token renewal on 401), with what its errors
 * mean for a delivery:
 *
 * - throttled or unavailable for longer than the client waits (429, 408, 5xx): a
 *   TransientDeliveryError carrying the delay, and the queue retries later;
 * - 401 after the renewal: `authentication_failed`, 403: `permission_denied`, any other 4xx:
 *   `destination_refused`, each permanent (an administrator must act), with Graph's reason and the
 *   GraphError as `cause` (graphStatus reads it);
 * - no answer: transient, except a server certificate that fails verification (a GRAPH_BASE_URL
 *   with a private CA, a TLS-inspecting proxy): permanent at once, naming the certificate
 *   (../tls.ts); its CA can be trusted with NODE_EXTRA_CA_CERTS.
 */
import { GraphError, GraphUnreachableError, type GraphClient, type GraphRequest } from '../../graph';
import { graphCertificateRefused } from '../tls';
import { PermanentDeliveryError, TransientDeliveryError } from '../types';

export class DeliveryGraph {
  constructor(readonly client: GraphClient) {}

  get baseUrl(): string {
    return this.client.baseUrl;
  }

  /** Sends a request; returns the response when it is 2xx or accepted, throws a delivery error otherwise. */
  async request(pathOrUrl: string, req: GraphRequest = {}): Promise<Response> {
    try {
      return await this.client.request(pathOrUrl, req);
    } catch (err) {
      throw await toDeliveryError(err);
    }
  }

  async json<T>(pathOrUrl: string, req: GraphRequest = {}): Promise<T> {
    const res = await this.request(pathOrUrl, req);
    return (await res.json()) as T;
  }
}

/** A Graph failure as a delivery error; anything else (the token source's own delivery errors) as it is. */
export async function toDeliveryError(err: unknown): Promise<unknown> {
  if (err instanceof GraphUnreachableError) {
    // fetch's "fetch failed" carries Node's TLS error as its cause: a refused certificate is permanent.
    return (await graphCertificateRefused(err.cause, err.url)) ?? new TransientDeliveryError('destination_unavailable', err.message);
  }
  if (!(err instanceof GraphError)) return err;
  const cause = { cause: err };
  if (err.retryable) {
    return new TransientDeliveryError(
      err.status === 429 ? 'destination_throttled' : 'destination_unavailable',
      err.message,
      err.retryAfterSeconds,
      cause,
    );
  }
  if (err.status === 401)
    return new PermanentDeliveryError(
      'authentication_failed',
      `${err.message}. The token was refused twice: authorize the connection again or grant the permission.`,
      cause,
    );
  if (err.status === 403)
    return new PermanentDeliveryError(
      'permission_denied',
      `${err.message}. The account or app lacks the permission for this destination.`,
      cause,
    );
  return new PermanentDeliveryError('destination_refused', err.message, cause);
}

/** The HTTP status of the Graph answer behind a delivery error made by toDeliveryError, if any. */
export function graphStatus(err: unknown): number | undefined {
  return err instanceof Error && err.cause instanceof GraphError ? err.cause.status : undefined;
}
