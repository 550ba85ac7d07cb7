/**
 * POST /api/destinations/{id}/test — delivers a sample PDF to the destination (body optional:
 * `{ "fields": {...} }` for its templates) and answers with the outcome: the remote id, or the
 * delivery error's code and reason. Audited. An administrator endpoint.
 */
import { sendTest } from '../shared/destinations';
import { getServices } from '../shared/services';
import type { HttpFunction } from '../host/definitions';
import { invocationLogger, readJson, withAdmin } from '../host/http';

export const destinationTest: HttpFunction = {
  kind: 'http',
  name: 'destinationTest',
  route: 'destinations/{id}/test',
  methods: ['POST'],
  authLevel: 'anonymous',
  handler: withAdmin(async (request, context, caller) => {
    const deps = getServices().sendTestDeps(invocationLogger(context));
    return { status: 200, jsonBody: await sendTest(deps, caller.actor, request.params.id ?? '', await readJson(request)) };
  }),
};
