/** POST /api/connections/{id}/refresh — refreshes one connection's tokens now (administrators). */
import { refreshConnectionNow } from '../shared/oauth';
import { getServices } from '../shared/services';
import type { HttpFunction } from '../host/definitions';
import { invocationLogger, withAdmin } from '../host/http';

export const connectionRefresh: HttpFunction = {
  kind: 'http',
  name: 'connectionRefresh',
  route: 'connections/{id}/refresh',
  methods: ['POST'],
  authLevel: 'anonymous',
  handler: withAdmin(async (request, context, caller) => {
    const deps = getServices().oauthDeps(invocationLogger(context));
    return { status: 200, jsonBody: await refreshConnectionNow(deps, caller.actor, request.params.id ?? '') };
  }),
};
