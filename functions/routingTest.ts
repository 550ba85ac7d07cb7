/**
 * POST /api/routing/test — `{ "fields": {...}, "files": [{ "name": "a.pdf" }] }`: which
 * destinations select a job with these fields and every template of each rendered; sends
 * nothing. An administrator endpoint.
 */
import { testRouting } from '../shared/destinations';
import { getServices } from '../shared/services';
import type { HttpFunction } from '../host/definitions';
import { ADMIN_KEY_ACTOR, invocationLogger, readJson, withErrors } from '../host/http';

export const routingTest: HttpFunction = {
  kind: 'http',
  name: 'routingTest',
  route: 'routing/test',
  methods: ['POST'],
  authLevel: 'admin',
  handler: withErrors(async (request, context) => {
    const deps = getServices().tryOutDeps(invocationLogger(context));
    return { status: 200, jsonBody: await testRouting(deps, ADMIN_KEY_ACTOR, await readJson(request)) };
  }),
};
