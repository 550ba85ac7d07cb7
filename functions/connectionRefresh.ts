/** POST /api/connections/{id}/refresh — refreshes one connection's tokens now (administrators). */
import { refreshConnectionNow } from '../shared/oauth';
import { getServices } from '../shared/services';
import type { HttpFunction } from '../host/definitions';
import { invocationLogger, withErrors } from '../host/http';

export const connectionRefresh: HttpFunction = {
  kind: 'http',
  name: 'connectionRefresh',
  route: 'connections/{id}/refresh',
  methods: ['POST'],
  authLevel: 'admin',
  handler: withErrors(async (request, context) => {
    const deps = getServices().oauthDeps(invocationLogger(context));
    return { status: 200, jsonBody: await refreshConnectionNow(deps, request.params.id ?? '') };
  }),
};
