/** GET /api/connections (list) and POST /api/connections (create): administrator endpoints (shared/access). */
import { clientSecretWarnings, createConnection, listConnections } from '../shared/oauth';
import { getServices } from '../shared/services';
import type { HttpFunction } from '../host/definitions';
import { invocationLogger, readJson, withAdmin } from '../host/http';

export const connections: HttpFunction = {
  kind: 'http',
  name: 'connections',
  route: 'connections',
  methods: ['GET', 'POST'],
  authLevel: 'anonymous',
  handler: withAdmin(async (request, context, caller) => {
    const deps = getServices().oauthDeps(invocationLogger(context));
    if (request.method === 'POST') {
      return { status: 201, jsonBody: await createConnection(deps, caller.actor, await readJson(request)) };
    }
    const [list, warnings] = await Promise.all([listConnections(deps), clientSecretWarnings(deps.config, deps.secrets)]);
    return { status: 200, jsonBody: { connections: list, warnings } };
  }),
};
