/**
 * An event as each kind of channel receives it.
 *
 * - `webhookBody`: a generic JSON body, `schema` naming its version, stable field names.
 * - `teamsMessage`: the message a Teams Workflows webhook ("When a Teams webhook request is
 *   received", the "Send webhook alerts to a channel" template) takes: `type: "message"` with one
 *   attachment of content type `application/vnd.microsoft.card.adaptive` whose `content` is the
 *   Adaptive Card (https://learn.microsoft.com/microsoftteams/platform/webhooks-and-connectors/how-to/connectors-using#send-adaptive-cards-using-an-incoming-webhook).
 *   The card declares version 1.4, which Teams renders on every client
 *   (https://learn.microsoft.com/microsoftteams/platform/task-modules-and-cards/cards/cards-reference#adaptive-card),
 *   and is checked against that version's schema in the tests.
 * - `emailMessage`: a subject and a text body.
 */
import type { NotificationEvent } from './events';

export const WEBHOOK_SCHEMA = 'scanrelay.notification/1';
export const CARD_VERSION = '1.4';

export interface WebhookBody {
  schema: typeof WEBHOOK_SCHEMA;
  id: string;
  type: NotificationEvent['type'];
  severity: NotificationEvent['severity'];
  occurredAt: string;
  title: string;
  text: string;
  link?: NotificationEvent['link'];
  subject: NotificationEvent['subject'];
  facts: NotificationEvent['facts'];
  /** Events of its group counted, not sent, since the last one sent. */
  alsoSince?: { count: number; since: string };
}

export interface Coalesced {
  count: number;
  since: Date;
}

export function webhookBody(e: NotificationEvent, coalesced?: Coalesced): WebhookBody {
  return {
    schema: WEBHOOK_SCHEMA,
    id: e.id,
    type: e.type,
    severity: e.severity,
    occurredAt: e.occurredAt,
    title: e.title,
    text: e.text,
    ...(e.link ? { link: e.link } : {}),
    subject: e.subject,
    facts: e.facts,
    ...(coalesced?.count ? { alsoSince: { count: coalesced.count, since: coalesced.since.toISOString() } } : {}),
  };
}

const COLOR = { error: 'Attention', warning: 'Warning', info: 'Good' } as const;

/**
 * Adaptive Card text is a markdown subset (bold, italic, lists, [text](url) links): a value from
 * storage or an error message must not make a link, so its brackets become parentheses. (The
 * subset has no escape that every Teams client honours.)
 */
function plain(s: string): string {
  return s.replace(/\[/g, '(').replace(/\]/g, ')');
}

function coalescedLine(c: Coalesced | undefined): string | undefined {
  return c?.count
    ? `${c.count} more event(s) like this one since ${c.since.toISOString()} were recorded without a notification.`
    : undefined;
}

export function adaptiveCard(e: NotificationEvent, coalesced?: Coalesced): Record<string, unknown> {
  const more = coalescedLine(coalesced);
  return {
    $schema: 'http://adaptivecards.io/schemas/adaptive-card.json',
    type: 'AdaptiveCard',
    version: CARD_VERSION,
    body: [
      { type: 'TextBlock', text: plain(e.title), weight: 'Bolder', size: 'Medium', color: COLOR[e.severity], wrap: true },
      { type: 'TextBlock', text: plain(e.text), wrap: true },
      ...(more ? [{ type: 'TextBlock', text: plain(more), wrap: true, isSubtle: true }] : []),
      { type: 'FactSet', facts: e.facts.map((f) => ({ title: plain(f.name), value: plain(f.value) })) },
      { type: 'TextBlock', text: `ScanRelay · ${e.occurredAt}`, size: 'Small', isSubtle: true, wrap: true },
    ],
    ...(e.link ? { actions: [{ type: 'Action.OpenUrl', title: e.link.title, url: e.link.url }] } : {}),
  };
}

export function teamsMessage(e: NotificationEvent, coalesced?: Coalesced): Record<string, unknown> {
  return {
    type: 'message',
    attachments: [{ contentType: 'application/vnd.microsoft.card.adaptive', contentUrl: null, content: adaptiveCard(e, coalesced) }],
  };
}

export function emailMessage(e: NotificationEvent, coalesced?: Coalesced): { subject: string; text: string } {
  const more = coalescedLine(coalesced);
  const lines = [
    e.title,
    '',
    e.text,
    ...(more ? ['', more] : []),
    '',
    ...e.facts.map((f) => `${f.name}: ${f.value}`),
    ...(e.link ? ['', `${e.link.title}: ${e.link.url}`] : []),
    '',
    `ScanRelay, ${e.occurredAt} (event ${e.id})`,
  ];
  const prefix = e.severity === 'error' ? '[ScanRelay] ' : e.severity === 'warning' ? '[ScanRelay warning] ' : '[ScanRelay] ';
  return { subject: `${prefix}${e.title}`.slice(0, 200), text: lines.join('\n') };
}
