/**
 * GET /api/notifications/channels (the notification channels, each with its ETag; a webhook's URL
 * shown as its host only) and POST (create one from `{ id, ...options }`; 201 with its ETag):
 * administrator endpoints.
 */
import { createChannel, listChannels } from '../shared/notifications';
import { getServices } from '../shared/services';
import type { HttpFunction } from '../host/definitions';
import { invocationLogger, readJson, withAdmin } from '../host/http';

export const notificationChannels: HttpFunction = {
  kind: 'http',
  name: 'notificationChannels',
  route: 'notifications/channels',
  methods: ['GET', 'POST'],
  authLevel: 'anonymous',
  handler: withAdmin(async (request, context, caller) => {
    const deps = getServices().notificationsDeps(invocationLogger(context));
    if (request.method === 'POST') {
      const created = await createChannel(deps, caller.actor, await readJson(request));
      return { status: 201, headers: { etag: created.etag, location: `/api/notifications/channels/${created.id}` }, jsonBody: created };
    }
    return { status: 200, jsonBody: { channels: await listChannels(deps) } };
  }),
};
