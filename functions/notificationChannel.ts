/**
 * GET /api/notifications/channels/{id} (a channel with its ETag), PUT (replace its options; without
 * `url` a webhook keeps its URL) and DELETE (204): administrator endpoints. PUT and DELETE need
 * If-Match: the ETag it was read with (or `*`).
 */
import { deleteChannel, getChannel, replaceChannel } from '../shared/notifications';
import { getServices } from '../shared/services';
import type { HttpFunction } from '../host/definitions';
import { invocationLogger, readJson, withAdmin } from '../host/http';

export const notificationChannel: HttpFunction = {
  kind: 'http',
  name: 'notificationChannel',
  route: 'notifications/channels/{id}',
  methods: ['GET', 'PUT', 'DELETE'],
  authLevel: 'anonymous',
  handler: withAdmin(async (request, context, caller) => {
    const deps = getServices().notificationsDeps(invocationLogger(context));
    const id = request.params.id ?? '';
    const ifMatch = request.headers.get('if-match') ?? undefined;
    if (request.method === 'DELETE') {
      await deleteChannel(deps, caller.actor, id, ifMatch);
      return { status: 204 };
    }
    const channel =
      request.method === 'PUT'
        ? await replaceChannel(deps, caller.actor, id, await readJson(request), ifMatch)
        : await getChannel(deps, id);
    return { status: 200, headers: { etag: channel.etag }, jsonBody: channel };
  }),
};
