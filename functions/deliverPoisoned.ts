/**
 * Queue trigger on scan-delivery-poison: a delivery message the host gave up on. When the
 * worker died on the last attempt (no verdict was recorded), the job is delivered again a few
 * times; otherwise its record already says why it failed (see shared/delivery).
 */
import { handlePoisoned } from '../shared/delivery';
import { DELIVERY_QUEUE } from '../shared/storage';
import { getServices } from '../shared/services';
import type { QueueFunction } from '../host/definitions';
import { invocationLogger } from '../host/http';

export const deliverPoisoned: QueueFunction = {
  kind: 'queue',
  name: 'deliverPoisoned',
  queueName: `${DELIVERY_QUEUE}-poison`,
  handler: async (message, context) => {
    await handlePoisoned(message, getServices().delivererDeps(invocationLogger(context)));
  },
};
