/** GET /api/notifications?days=14: the events of the last days, newest first, with each channel's outcome; an administrator endpoint. */
import { recentEvents } from '../shared/notifications';
import { getServices } from '../shared/services';
import type { HttpFunction } from '../host/definitions';
import { invocationLogger, withAdmin } from '../host/http';

export const notifications: HttpFunction = {
  kind: 'http',
  name: 'notifications',
  route: 'notifications',
  methods: ['GET'],
  authLevel: 'anonymous',
  handler: withAdmin(async (request, context) => {
    const days = Math.min(Math.max(Number(request.query.get('days') ?? 14) || 14, 1), 30);
    return { status: 200, jsonBody: { events: await recentEvents(getServices().notificationsDeps(invocationLogger(context)), days) } };
  }),
};
