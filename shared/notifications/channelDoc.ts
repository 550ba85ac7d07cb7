/**
 * The generated parts of docs/notifications.md, rendered by `npm run docs` between their markers
 * (the rest of the page is written by hand): a channel's options (channel.ts) and the event types
 * (events.ts).
 */
import { renderSchemaTable } from '../delivery/optionsDoc';
import { channelSchema } from './channel';
import { EVENT_DESCRIPTIONS, EVENT_TYPES } from './events';

export const CHANNEL_OPTIONS_START = '<!-- channel-options:start -->';
export const CHANNEL_OPTIONS_END = '<!-- channel-options:end -->';
export const EVENT_TYPES_START = '<!-- event-types:start -->';
export const EVENT_TYPES_END = '<!-- event-types:end -->';

function between(doc: string, start: string, end: string, content: string): string {
  const a = doc.indexOf(start);
  const b = doc.indexOf(end);
  if (a < 0 || b < a || doc.indexOf(start, a + 1) >= 0)
    throw new Error(`docs/notifications.md must hold each generated part once, between\n${start}\nand\n${end}`);
  return `${doc.slice(0, a + start.length)}\n\n${content}\n\n${doc.slice(b)}`;
}

/** docs/notifications.md with its generated parts rendered between their markers (which must be there once each). */
export function renderNotificationsDoc(doc: string): string {
  const events = ['| Event | When |', '| --- | --- |', ...EVENT_TYPES.map((t) => `| \`${t}\` | ${EVENT_DESCRIPTIONS[t]} |`)].join('\n');
  const [webhook, , email] = channelSchema.options;
  const options = [
    '### `webhook` and `teams`',
    '',
    renderSchemaTable(webhook, 'a webhook or teams channel (shared/notifications/channel.ts)'),
    '',
    '### `email`',
    '',
    renderSchemaTable(email, 'an email channel (shared/notifications/channel.ts)'),
  ].join('\n');
  return between(between(doc, EVENT_TYPES_START, EVENT_TYPES_END, events), CHANNEL_OPTIONS_START, CHANNEL_OPTIONS_END, options);
}
