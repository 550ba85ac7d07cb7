/** The admin API's answers about notification channels (shared/notifications/channels.ts). */
import type { ErrorEntry } from './catalog';

export const NOTIFICATION_ERRORS = {
  channel_exists: {
    kinds: ['request'],
    status: 409,
    meaning: 'A notification channel with this id exists already.',
    action: 'Change it with PUT /api/notifications/channels/{id}, or choose another id.',
  },
  channel_changed: {
    kinds: ['request'],
    status: 412,
    meaning:
      'The notification channel was changed by someone else since you read it (its ETag differs from If-Match); your change was not saved.',
    action: 'Read it again (GET /api/notifications/channels/{id}), make your change on what is there now, and send the new ETag.',
  },
  channel_not_found: {
    kinds: ['request'],
    status: 404,
    meaning: 'No notification channel has this id.',
    action: 'List the channels (GET /api/notifications/channels) for their ids.',
  },
  channel_invalid: {
    kinds: ['request'],
    status: 409,
    meaning: 'The stored channel is not valid with this version of ScanRelay (an option it had was removed or changed meaning).',
    action: 'Set its options again (PUT /api/notifications/channels/{id}, or the console).',
  },
} as const satisfies Record<string, ErrorEntry>;
