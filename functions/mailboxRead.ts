/** Timer: the backstop that reads every enabled mailbox source's folder with its delta query and queues what it finds. */
import type { TimerFunction } from '../host/definitions';
import { invocationLogger } from '../host/http';
import { readAllSources } from '../shared/mailbox';
import { getServices } from '../shared/services';

export const mailboxRead: TimerFunction = {
  kind: 'timer',
  name: 'mailboxRead',
  // An app-setting expression: MAILBOX_READ_SCHEDULE (default every 5 minutes).
  schedule: '%MAILBOX_READ_SCHEDULE%',
  handler: async (_timer, context) => {
    const result = await readAllSources(getServices().mailboxDeps(invocationLogger(context)));
    if (result.read || result.failed) context.log('mailboxRead: done', result);
  },
};
