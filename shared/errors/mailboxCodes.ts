/**
 * The codes of mailbox ingest: why a mailbox source rejected a message (each rejected message is
 * moved to the source's rejected folder with its code and reason recorded), what stops a source
 * reading its mailbox, and the admin API's answers about sources.
 */
import type { ErrorEntry } from './catalog';

export const MAILBOX_ERRORS = {
  sender_not_allowed: {
    kinds: ['mailbox'],
    meaning: "The message's sender is not in the source's allowedSenders.",
    action:
      'If the sender is a printer or person that should scan here, add its address or domain to allowedSenders, then move the message back to the folder read.',
  },
  no_usable_attachment: {
    kinds: ['mailbox'],
    meaning:
      'The message has no attachment of an accepted type (attachmentTypes; inline images and attached e-mails only with includeInline / includeAttachedMessages).',
    action: "Check what the printer sends (file type, attached or inline), and the source's attachmentTypes.",
  },
  message_too_large: {
    kinds: ['mailbox'],
    meaning:
      "The message's files together are larger than the source's maxMessageBytes, or one is larger than SCAN_MAX_FILE_BYTES, or there are more than SCAN_MAX_FILES.",
    action: 'Scan at a lower resolution or in parts, or raise the limit the reason names.',
  },
  mailbox_unreadable: {
    kinds: ['mailbox'],
    meaning:
      'The source cannot read its mailbox: the folder does not exist, the connection must be authorized again, or the app lacks Mail.ReadWrite on this mailbox.',
    action:
      'Fix what the message says (authorize the connection, grant the permission or scope it with RBAC for Applications, correct the folder); the next reading catches up.',
  },
  subscription_failed: {
    kinds: ['mailbox'],
    meaning:
      'Microsoft Graph refused the change-notification subscription (the notification URL is not reachable over https, or the validation failed). Messages are still read by the backstop timer, only later.',
    action: 'Make the app reachable at PUBLIC_BASE_URL over https; the subscription timer tries again.',
  },
  reserved_scan_job_id: {
    kinds: ['request'],
    status: 400,
    meaning: "A scanJobID starting with 'mailbox:' is reserved for jobs made from a mailbox.",
    action: 'Send another scanJobID.',
  },
  mailbox_source_exists: {
    kinds: ['request'],
    status: 409,
    meaning: 'A mailbox source with this id exists already.',
    action: 'Change it with PUT /api/mailboxes/{id}, or choose another id.',
  },
  mailbox_source_changed: {
    kinds: ['request'],
    status: 412,
    meaning:
      'The mailbox source was changed by someone else since you read it (its ETag differs from If-Match); your change was not saved.',
    action: 'Read it again (GET /api/mailboxes/{id}), make your change on what is there now, and send the new ETag.',
  },
  mailbox_source_not_found: {
    kinds: ['request'],
    status: 404,
    meaning: 'No mailbox source has this id.',
    action: 'List the sources (GET /api/mailboxes) for their ids.',
  },
} as const satisfies Record<string, ErrorEntry>;
