/** Queue trigger on mailbox-work: takes in one message of a mailbox source, or reads a source's folder. */
import type { QueueFunction } from '../host/definitions';
import { invocationLogger } from '../host/http';
import { runMailboxWork } from '../shared/mailbox';
import { getServices } from '../shared/services';
import { MAILBOX_QUEUE } from '../shared/storage';

export const mailboxWork: QueueFunction = {
  kind: 'queue',
  name: 'mailboxWork',
  queueName: MAILBOX_QUEUE,
  handler: async (message, context) => {
    await runMailboxWork(message, getServices().mailboxDeps(invocationLogger(context)));
  },
};
