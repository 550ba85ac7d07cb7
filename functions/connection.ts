/** GET /api/connections/{id} (show) and DELETE /api/connections/{id} (delete, clearing its tokens). */
import { deleteConnection, getConnection } from '../shared/oauth';
import { getServices } from '../shared/services';
import type { HttpFunction } from '../host/definitions';
import { invocationLogger, withAdmin } from '../host/http';

export const connection: HttpFunction = {
  kind: 'http',
  name: 'connection',
  route: 'connections/{id}',
  methods: ['GET', 'DELETE'],
  authLevel: 'anonymous',
  handler: withAdmin(async (request, context, caller) => {
    const deps = getServices().oauthDeps(invocationLogger(context));
    const id = request.params.id ?? '';
    if (request.method === 'DELETE') {
      await deleteConnection(deps, caller.actor, id);
      return { status: 204 };
    }
    return { status: 200, jsonBody: await getConnection(deps, id) };
  }),
};
