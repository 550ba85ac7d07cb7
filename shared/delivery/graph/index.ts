/**
 * Microsoft Graph for the delivery connectors: the client, upload sessions, drives, and how a
 * connector gets its token (a connection's delegated token, or the app's own).
 */
import { ConfigError } from '../../errors';
import { PermanentDeliveryError, TransientDeliveryError, type DeliveryContext } from '../types';
import { GraphClient } from './client';

export type GraphAuth = { kind: 'delegated'; connectionId: string } | { kind: 'application' };

/** A Graph client for a connector: tokens from the context, token failures classified. */
export function graphFor(context: DeliveryContext, auth: GraphAuth): GraphClient {
  // App-only tokens are asked for `<Graph origin>/.default` (https://graph.microsoft.com, or a national cloud's).
  const resource = new URL(context.graphBaseUrl).origin;
  return new GraphClient({
    baseUrl: context.graphBaseUrl,
    token: async (forceRefresh) => {
      try {
        return auth.kind === 'delegated'
          ? await context.getAccessToken(auth.connectionId, { forceRefresh })
          : await context.getApplicationToken(resource, { forceRefresh });
      } catch (err) {
        const e = err as { code?: string; name?: string; message?: string };
        const message = `No access token for Microsoft Graph: ${e.message ?? String(err)}`;
        if (e.code === 'reauthorization_required' || e.code === 'connection_not_found') throw new PermanentDeliveryError(e.code, message);
        if (err instanceof ConfigError) throw new PermanentDeliveryError('authentication_failed', message);
        throw new TransientDeliveryError('destination_unavailable', message);
      }
    },
  });
}

/** Parses `connectionId` (delegated) for a connector's options; throws an Error naming the option. */
export function parseConnectionId(o: Record<string, unknown>): string {
  if (typeof o.connectionId !== 'string' || o.connectionId.trim() === '')
    throw new Error('"connectionId" must name an authorized connection.');
  return o.connectionId;
}

export { GraphClient } from './client';
export * from './drive';
export * from './uploadSession';
