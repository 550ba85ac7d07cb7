/** GET /api/connections (list) and POST /api/connections (create): administrator endpoints. */
import { clientSecretWarnings, createConnection, listConnections } from '../shared/oauth';
import { getServices } from '../shared/services';
import type { HttpFunction } from '../host/definitions';
import { invocationLogger, readJson, withErrors } from '../host/http';

export const connections: HttpFunction = {
  kind: 'http',
  name: 'connections',
  route: 'connections',
  methods: ['GET', 'POST'],
  authLevel: 'admin',
  handler: withErrors(async (request, context) => {
    const deps = getServices().oauthDeps(invocationLogger(context));
    if (request.method === 'POST') {
      return { status: 201, jsonBody: await createConnection(deps, await readJson(request)) };
    }
    const [list, warnings] = await Promise.all([listConnections(deps), clientSecretWarnings(deps.config, deps.secrets)]);
    return { status: 200, jsonBody: { connections: list, warnings } };
  }),
};
