/**
 * POST /api/mailbox/notifications: Microsoft Graph's change notifications for the mailbox
 * sources' folders (shared/mailbox/notifications.ts). Anonymous at the Functions level: Graph
 * sends no key; each notification's clientState is checked instead.
 */
import type { HttpFunction } from '../host/definitions';
import { notificationResponse } from '../host/notifications';
import { acceptNotifications } from '../shared/mailbox';

export const mailboxNotifications: HttpFunction = {
  kind: 'http',
  name: 'mailboxNotifications',
  route: 'mailbox/notifications',
  methods: ['POST'],
  authLevel: 'anonymous',
  handler: notificationResponse(acceptNotifications),
};
