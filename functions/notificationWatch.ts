/**
 * Timer: raises the notifications read from state (a client secret's expiry, the directory sync or
 * SCIM provisioning failing and recovering), each once per change, and deletes old records.
 */
import type { TimerFunction } from '../host/definitions';
import { invocationLogger } from '../host/http';
import { runNotificationWatch } from '../shared/notifications';
import { getServices } from '../shared/services';

export const notificationWatch: TimerFunction = {
  kind: 'timer',
  name: 'notificationWatch',
  // An app-setting expression: NOTIFICATION_WATCH_SCHEDULE (default every 15 minutes; see README).
  schedule: '%NOTIFICATION_WATCH_SCHEDULE%',
  handler: async (_timer, context) => {
    const result = await runNotificationWatch(getServices().notificationWatchDeps(invocationLogger(context)));
    context.log('notificationWatch: done', result);
  },
};
