/** Queue trigger on notifications: sends one event to its channels and records what became of it. */
import type { QueueFunction } from '../host/definitions';
import { invocationLogger } from '../host/http';
import { processNotification } from '../shared/notifications';
import { getServices } from '../shared/services';
import { NOTIFICATION_QUEUE } from '../shared/storage';

export const notify: QueueFunction = {
  kind: 'queue',
  name: 'notify',
  queueName: NOTIFICATION_QUEUE,
  handler: async (message, context) => {
    await processNotification(getServices().notificationWorkerDeps(invocationLogger(context)), message);
  },
};
