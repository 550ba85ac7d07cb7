/** Queue trigger on scan-delivery: delivers one stored job to its destinations. */
import { deliverJob } from '../shared/delivery';
import { DELIVERY_QUEUE } from '../shared/storage';
import { getServices } from '../shared/services';
import type { QueueFunction } from '../host/definitions';
import { invocationLogger } from '../host/http';

export const deliver: QueueFunction = {
  kind: 'queue',
  name: 'deliver',
  queueName: DELIVERY_QUEUE,
  handler: async (message, context) => {
    const attempt = Number((context.triggerMetadata as { dequeueCount?: unknown } | undefined)?.dequeueCount ?? 1);
    await deliverJob(message, attempt, getServices().delivererDeps(invocationLogger(context)));
  },
};
