/**
 * A notification channel, as a zod schema: where ScanRelay tells administrators about events
 * (shared/notifications/events.ts), and which events it takes. Three kinds:
 *
 * - `webhook`: a POST of a generic JSON body (formats.ts) to any https URL;
 * - `teams`: a POST of an Adaptive Card to a Microsoft Teams / Power Automate Workflows webhook
 *   ("When a Teams webhook request is received");
 * - `email`: a message through an existing connection: `smtpMicrosoft` (Office 365 SMTP, XOAUTH2)
 *   or `exchangeMicrosoft` (Microsoft Graph sendMail), from that connection's account.
 *
 * A webhook URL is a credential (a Workflows URL carries its signature, `sig=`): it is stored
 * encrypted (shared/notifications/channels.ts) and never shown again, only its host.
 * Each option's description is its line in docs/notifications.md.
 */
import { z } from 'zod';
import { connectionId, flag, text, wholeNumber } from '../delivery/options';
import { EVENT_TYPES, type EventType } from './events';

/** A channel's id: as a destination's, lowercase letters, digits and dashes. */
export const CHANNEL_ID = /^[a-z0-9][a-z0-9-]{0,39}$/;
const ADDRESS = /^[^\s@<>()[\],;:"\\\p{Cc}]+@[^\s@<>()[\],;:"\\\p{Cc}]+\.[^\s@<>()[\],;:"\\\p{Cc}]+$/u;

/** The events a channel may take: every type but `test` (to the channel tested) and `scan.undeliverable` (to the scanning user). */
export const CHANNEL_EVENTS = EVENT_TYPES.filter(
  (t): t is Exclude<EventType, 'test' | 'scan.undeliverable'> => t !== 'test' && t !== 'scan.undeliverable',
);

const url = z
  .string({ error: 'must be an https:// URL' })
  .trim()
  .max(2000, { error: 'must be at most 2000 characters' })
  .transform((v, ctx) => {
    let u: URL;
    try {
      u = new URL(v);
    } catch {
      ctx.addIssue({ code: 'custom', message: 'must be an https:// URL' });
      return z.NEVER;
    }
    if (u.protocol !== 'https:' && u.protocol !== 'http:') {
      ctx.addIssue({ code: 'custom', message: 'must be an https:// URL' });
      return z.NEVER;
    }
    if (u.username || u.password) {
      ctx.addIssue({ code: 'custom', message: 'must not carry a user name or password' });
      return z.NEVER;
    }
    return u.toString();
  })
  .meta({ description: 'The URL posted to (stored encrypted, never shown again: only its host is). Omit it in a change to keep it.' });

const common = {
  name: text().max(100, { error: 'must be at most 100 characters' }).meta({ description: 'A name for people.' }),
  events: z
    .array(z.enum(CHANNEL_EVENTS, { error: `must each be one of: ${CHANNEL_EVENTS.join(', ')}` }), {
      error: 'must be a list of event types',
    })
    .default([...CHANNEL_EVENTS])
    .meta({
      description:
        "The event types it takes (by default all those listed in [Events](#events) but `test` and `scan.undeliverable`); `[]` for an e-mail channel used only by destinations' `notifyUser`.",
    }),
  enabled: flag().default(true).meta({ description: 'A disabled channel receives nothing (tests excepted).' }),
};

const webhookChannel = (kind: 'webhook' | 'teams') =>
  z.object(
    {
      kind: z.literal(kind).meta({
        description:
          '`webhook`: a POST of the generic JSON body (see [The webhook body](#the-webhook-body)); `teams`: a POST of an Adaptive Card to a Teams Workflows webhook.',
      }),
      ...common,
      url,
      allowPrivateNetworks: flag().default(false).meta({
        description:
          'Allows loopback, private and link-local addresses, which are otherwise refused (checked on the resolved address, which is then the one connected to), and `http://`.',
      }),
      timeoutSeconds: wholeNumber(1, 60).default(10).meta({ description: 'How long to wait for an answer, in seconds (1–60).' }),
    },
    { error: 'must be an object' },
  );

const emailChannel = z.object(
  {
    kind: z.literal('email').meta({ description: '`email`: a message through a connection.' }),
    ...common,
    connectionId: connectionId().meta({
      description:
        'The authorized connection it sends through, from its account: type `smtpMicrosoft` (Office 365 SMTP with XOAUTH2) or `exchangeMicrosoft` (Microsoft Graph sendMail, `Mail.Send`).',
    }),
    to: z
      .array(
        z
          .string({ error: 'must each be one e-mail address' })
          .trim()
          .refine((v) => ADDRESS.test(v) && v.length <= 254, { error: 'must each be one e-mail address' }),
        { error: 'must be a list of e-mail addresses' },
      )
      .min(1, { error: 'must name at least one address' })
      .max(20, { error: 'must name at most 20 addresses' })
      .meta({ description: 'The recipients (1 to 20 addresses).' }),
    smtpHost: z
      .string({ error: 'must be a host name' })
      .regex(/^[A-Za-z0-9.\-:[\]]+$/, { error: 'must be a host name' })
      .default('smtp.office365.com')
      .meta({ description: 'With an `smtpMicrosoft` connection: the server (smtp.office365.com).' }),
    smtpPort: wholeNumber(1, 65535, 'must be a port number (1-65535)')
      .default(587)
      .meta({ description: 'With an `smtpMicrosoft` connection: the port, STARTTLS required (587).' }),
  },
  { error: 'must be an object' },
);

export const channelSchema = z.discriminatedUnion('kind', [webhookChannel('webhook'), webhookChannel('teams'), emailChannel], {
  error: (issue) =>
    issue.code === 'invalid_union'
      ? '"kind" must be "webhook", "teams" or "email"'
      : 'must be an object with "kind": "webhook", "teams" or "email"',
});

export type ChannelOptions = z.output<typeof channelSchema>;
export type WebhookChannelOptions = Extract<ChannelOptions, { kind: 'webhook' | 'teams' }>;
export type EmailChannelOptions = Extract<ChannelOptions, { kind: 'email' }>;

export interface Channel {
  id: string;
  options: ChannelOptions;
  etag: string;
}
