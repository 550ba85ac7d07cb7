/**
 * POST /api/notifications/channels/{id}/test: sends a test event to the channel now and answers
 * what became of it (`status`: sent or failed, with the reason); an administrator endpoint.
 */
import { testChannel } from '../shared/notifications';
import { getServices } from '../shared/services';
import type { HttpFunction } from '../host/definitions';
import { invocationLogger, withAdmin } from '../host/http';

export const notificationChannelTest: HttpFunction = {
  kind: 'http',
  name: 'notificationChannelTest',
  route: 'notifications/channels/{id}/test',
  methods: ['POST'],
  authLevel: 'anonymous',
  handler: withAdmin(async (request, context, caller) => {
    const deps = getServices().notificationsDeps(invocationLogger(context));
    return { status: 200, jsonBody: await testChannel(deps, caller.actor, request.params.id ?? '') };
  }),
};
