/**
 * POST /api/mailbox/lifecycle: Microsoft Graph's lifecycle notifications for the mailbox
 * sources' subscriptions (reauthorizationRequired, subscriptionRemoved, missed;
 * shared/mailbox/notifications.ts). Anonymous at the Functions level; clientState checked inside.
 */
import type { HttpFunction } from '../host/definitions';
import { notificationResponse } from '../host/notifications';
import { acceptLifecycleNotifications } from '../shared/mailbox';

export const mailboxLifecycle: HttpFunction = {
  kind: 'http',
  name: 'mailboxLifecycle',
  route: 'mailbox/lifecycle',
  methods: ['POST'],
  authLevel: 'anonymous',
  handler: notificationResponse(acceptLifecycleNotifications),
};
