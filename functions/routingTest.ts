/**
 * POST /api/routing/test — `{ "fields": {...}, "files": [{ "name": "a.pdf" }] }`: which
 * destinations select a job with these fields and every template of each rendered; sends
 * nothing. Administrators and readers (it changes nothing).
 */
import { testRouting } from '../shared/destinations';
import { getServices } from '../shared/services';
import type { HttpFunction } from '../host/definitions';
import { invocationLogger, readJson, withAdmin } from '../host/http';

export const routingTest: HttpFunction = {
  kind: 'http',
  name: 'routingTest',
  route: 'routing/test',
  methods: ['POST'],
  authLevel: 'anonymous',
  handler: withAdmin(async (request, context, caller) => {
    const deps = getServices().tryOutDeps(invocationLogger(context));
    return { status: 200, jsonBody: await testRouting(deps, caller.actor, await readJson(request)) };
  }, 'read'),
};
