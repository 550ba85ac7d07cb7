/**
 * Microsoft Graph for the delivery connectors: the one client with its errors as delivery errors,
 * upload sessions, drives, and how a connector gets its token (a connection's delegated token, or
 * the app's own).
 */
import { AppError, ConfigError } from '../../errors';
import { GraphClient } from '../../graph';
import { PermanentDeliveryError, TransientDeliveryError, type DeliveryContext } from '../types';
import { DeliveryGraph } from './client';

export type GraphAuth = { kind: 'delegated'; connectionId: string } | { kind: 'application' };

/** A Graph client for a connector: tokens from the context, token failures classified. */
export function graphFor(context: DeliveryContext, auth: GraphAuth): DeliveryGraph {
  // App-only tokens are asked for `<Graph origin>/.default` (https://graph.microsoft.com, or a national cloud's).
  const resource = new URL(context.graphBaseUrl).origin;
  const client = new GraphClient({
    baseUrl: context.graphBaseUrl,
    token: async (forceRefresh) => {
      try {
        return auth.kind === 'delegated'
          ? await context.getAccessToken(auth.connectionId, { forceRefresh })
          : await context.getApplicationToken(resource, { forceRefresh });
      } catch (err) {
        const message = `No access token for Microsoft Graph: ${err instanceof Error ? err.message : String(err)}`;
        if (err instanceof AppError && (err.code === 'reauthorization_required' || err.code === 'connection_not_found'))
          throw new PermanentDeliveryError(err.code, message);
        if (err instanceof ConfigError) throw new PermanentDeliveryError('authentication_failed', message);
        throw new TransientDeliveryError('destination_unavailable', message);
      }
    },
  });
  return new DeliveryGraph(client);
}

export { DeliveryGraph, graphStatus, toDeliveryError } from './client';
export * from './drive';
export * from './uploadSession';
