/** Timer: creates and renews the change-notification subscriptions of the mailbox sources, and removes those no longer wanted. */
import type { TimerFunction } from '../host/definitions';
import { invocationLogger } from '../host/http';
import { keepSubscriptions } from '../shared/mailbox';
import { getServices } from '../shared/services';

export const mailboxSubscriptions: TimerFunction = {
  kind: 'timer',
  name: 'mailboxSubscriptions',
  // An app-setting expression: MAILBOX_SUBSCRIPTION_SCHEDULE (default hourly).
  schedule: '%MAILBOX_SUBSCRIPTION_SCHEDULE%',
  handler: async (_timer, context) => {
    await keepSubscriptions(getServices().mailboxDeps(invocationLogger(context)));
  },
};
