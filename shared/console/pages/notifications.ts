/**
 * Notifications: the channels ScanRelay tells administrators on (a webhook, a Teams Workflows
 * webhook, e-mail through a connection) with Send a test, Edit and Delete; adding one; a
 * channel's page with its edit form; and the events of the last 14 days with what became of each
 * on every channel. Every action is a shared/notifications operation, the same the JSON admin API
 * calls, with the signed-in actor (they validate, guard with the ETag and audit).
 *
 * A webhook's URL is a credential: the page shows its host only, never writes a URL into a form
 * (not the stored one, not one typed), and an edit without a URL keeps the stored one. Readers
 * see the lists without the forms and the buttons.
 */
import { isAppError, ValidationError, type FieldProblem } from '../../errors';
import {
  CHANNEL_EVENTS,
  EVENT_DESCRIPTIONS,
  createChannel,
  deleteChannel,
  getChannel,
  listChannels,
  recentEvents,
  replaceChannel,
  testChannel,
  type ChannelView,
  type EventView,
} from '../../notifications';
import { listConnections, type ConnectionView } from '../../oauth';
import type { PageContext } from '../context';
import { flashCookie } from '../flash';
import { html, type SafeHtml } from '../html';
import {
  actionButton,
  badge,
  consolePath,
  csrfField,
  dataTable,
  field,
  layout,
  selectInput,
  textInput,
  time,
  type Flash,
  type Tone,
} from '../layout';
import { htmlResponse, redirect, type ConsoleResponse } from '../response';

const KINDS: ReadonlyArray<[string, string]> = [
  ['webhook', 'Webhook'],
  ['teams', 'Teams'],
  ['email', 'E-mail'],
];
/** The connection types an e-mail channel sends through. */
const EMAIL_CONNECTION_TYPES: readonly string[] = ['smtpMicrosoft', 'exchangeMicrosoft'];
const RECENT_DAYS = 14;

/** The form's controls, by name: texts and selects, and the checkboxes as 'true' or ''. */
const CONTROLS = [
  'id',
  'name',
  'kind',
  'url',
  'allowPrivateNetworks',
  'timeoutSeconds',
  'connectionId',
  'to',
  'smtpHost',
  'smtpPort',
  'events',
  'enabled',
] as const;
type Control = (typeof CONTROLS)[number];

interface FormState {
  /** By control name (no `url`: a URL is never written back into the page). */
  values: Record<Exclude<Control, 'url' | 'events'>, string>;
  events: string[];
  /** By control name. */
  errors: Partial<Record<Control, string>>;
  /** A problem no field holds (a stale ETag, an id taken). */
  general?: string;
  /** A URL was typed in the form that failed: it must be typed again. */
  urlTyped?: boolean;
}

const NOT_SAVED = 'Nothing was saved: correct the fields marked below.';

const str = (v: unknown): string => (typeof v === 'string' ? v : typeof v === 'number' ? String(v) : '');
const list = (v: unknown): string[] => (Array.isArray(v) ? v.map(str) : []);
const kindName = (kind: unknown) => KINDS.find(([k]) => k === kind)?.[1] ?? str(kind);

const emptyState = (): FormState => ({
  values: {
    id: '',
    name: '',
    kind: 'webhook',
    allowPrivateNetworks: '',
    timeoutSeconds: '',
    connectionId: '',
    to: '',
    smtpHost: '',
    smtpPort: '',
    enabled: 'true',
  },
  events: [...CHANNEL_EVENTS],
  errors: {},
});

/** A stored channel as the form's values (its URL left out: the page never has it). */
function stateOf(c: ChannelView): FormState {
  const o = c.options;
  return {
    values: {
      id: c.id,
      name: str(o.name),
      kind: str(o.kind),
      allowPrivateNetworks: o.allowPrivateNetworks === true ? 'true' : '',
      timeoutSeconds: str(o.timeoutSeconds),
      connectionId: str(o.connectionId),
      to: list(o.to).join(', '),
      smtpHost: str(o.smtpHost),
      smtpPort: str(o.smtpPort),
      enabled: o.enabled === false ? '' : 'true',
    },
    events: list(o.events),
    errors: {},
  };
}

/** A number typed as digits is sent as a number; anything else as typed, for the validator to name. */
const numberOf = (s: string): unknown => (/^\d{1,9}$/.test(s.trim()) ? Number(s.trim()) : s);

/**
 * The posted form as the body the shared functions take: `{ id?, kind, name, events, enabled, ... }`
 * with a webhook's URL (when one was typed), private networks and timeout, or an e-mail's
 * connection and recipients (comma-separated) and SMTP server.
 */
function readForm(form: URLSearchParams, withId: boolean): { body: Record<string, unknown>; state: FormState } {
  const get = (name: string) => form.get(name) ?? '';
  const checked = (name: string) => (get(name) === 'true' ? 'true' : '');
  const values: FormState['values'] = {
    id: get('id'),
    name: get('name'),
    kind: get('kind'),
    allowPrivateNetworks: checked('allowPrivateNetworks'),
    timeoutSeconds: get('timeoutSeconds'),
    connectionId: get('connectionId'),
    to: get('to'),
    smtpHost: get('smtpHost'),
    smtpPort: get('smtpPort'),
    enabled: checked('enabled'),
  };
  const events = form.getAll('events');
  const url = get('url').trim();
  const body: Record<string, unknown> = {
    ...(withId ? { id: values.id.trim() } : {}),
    kind: values.kind,
    name: values.name,
    events,
    enabled: values.enabled === 'true',
  };
  if (values.kind === 'email') {
    body.connectionId = values.connectionId;
    body.to = values.to
      .split(',')
      .map((a) => a.trim())
      .filter(Boolean);
    if (values.smtpHost.trim()) body.smtpHost = values.smtpHost.trim();
    if (values.smtpPort.trim()) body.smtpPort = numberOf(values.smtpPort);
  } else {
    if (url) body.url = url;
    body.allowPrivateNetworks = values.allowPrivateNetworks === 'true';
    if (values.timeoutSeconds.trim()) body.timeoutSeconds = numberOf(values.timeoutSeconds);
  }
  return { body, state: { values, events, errors: {}, urlTyped: !!url } };
}

/** A ValidationError's problems, each next to the control its path falls under (`to.1`: that address). */
function withProblems(state: FormState, body: Record<string, unknown>, err: ValidationError): FormState {
  const errors = { ...state.errors };
  const rest: string[] = [];
  for (const p of err.fields as FieldProblem[]) {
    const [top, ...below] = p.path.split('.');
    const name = CONTROLS.find((c) => c === top);
    if (!name) {
      rest.push(`${p.path || 'The channel'} ${p.message}`);
      continue;
    }
    const item = below.length && Array.isArray(body[name]) ? str((body[name] as unknown[])[Number(below[0])]) : '';
    const text = below.length ? `${item ? `'${item}'` : p.path}: ${p.message}` : p.message;
    errors[name] = errors[name] ? `${errors[name]} ${text}` : text;
  }
  return { ...state, errors, general: rest.length ? rest.join(' ') : NOT_SAVED };
}

const generalNotice = (state: FormState) => (state.general ? html`<div class="notice bad" role="alert"><p>${state.general}</p></div>` : '');

/** A checkbox with its label after it, its hint and its error tied to it. */
function checkbox(
  id: string,
  name: string,
  value: string,
  label: SafeHtml | string,
  checked: boolean,
  options: { hint?: string; error?: string } = {},
): SafeHtml {
  const described = [options.hint ? `${id}-hint` : '', options.error ? `${id}-error` : ''].filter(Boolean).join(' ');
  return html`<div class="check">
    <input
      type="checkbox"
      id="${id}"
      name="${name}"
      value="${value}"
      ${checked ? html`checked` : ''}
      ${described ? html`aria-describedby="${described}"` : ''}
      ${options.error ? html`aria-invalid="true"` : ''}
    />
    <label for="${id}">${label}</label>
    ${options.hint ? html`<span class="hint" id="${id}-hint">${options.hint}</span>` : ''}
    ${options.error ? html`<span class="error" id="${id}-error">${options.error}</span>` : ''}
  </div>`;
}

/** The e-mail connections to choose from: the authorized ones of an e-mail type, and the one the channel names whatever it is now. */
function connectionChoices(connections: readonly ConnectionView[], selected: string): Array<[string, string]> {
  const usable = connections.filter((c) => EMAIL_CONNECTION_TYPES.includes(c.type) && c.state === 'authorized');
  const choices: Array<[string, string]> = [
    ['', 'Choose a connection'],
    ...usable.map((c): [string, string] => [c.id, `${c.displayName} (${c.id})`]),
  ];
  if (selected && !usable.some((c) => c.id === selected)) choices.push([selected, `${selected} (not an authorized e-mail connection)`]);
  return choices;
}

/** The create form (without an ETag: with the id) or the edit form of a channel. */
function channelForm(
  ctx: PageContext,
  action: string,
  state: FormState,
  connections: readonly ConnectionView[],
  options: { etag?: string; urlHost?: string; submit: string },
): SafeHtml {
  const { values: v, errors } = state;
  const urlHint = [
    'Webhook: any https:// URL, posted the JSON body of docs/notifications.md. Teams: the URL of a Workflows webhook ("When a Teams webhook request is received").',
    options.etag
      ? `Stored encrypted and never shown again${options.urlHost ? ` (its host: ${options.urlHost})` : ''}; leave it empty to keep it.`
      : 'Stored encrypted and never shown again, only its host.',
    state.urlTyped ? 'Type it again: a URL is not shown back.' : '',
  ]
    .filter(Boolean)
    .join(' ');
  return html`${generalNotice(state)}
    <form class="stack" method="post" action="${action}">
      ${csrfField(ctx.csrf)} ${options.etag ? html`<input type="hidden" name="etag" value="${options.etag}" />` : ''}
      ${
        options.etag
          ? ''
          : field('id', 'Id', textInput(v.id, 'text', html`spellcheck="false" autocomplete="off"`), {
              hint: '1 to 40 lowercase letters, digits and dashes; the audit log and the events name the channel by it. It cannot be changed later.',
              error: errors.id,
            })
      }
      ${field('name', 'Name', textInput(v.name, 'text', html`autocomplete="off"`), { hint: 'A name for people, e.g. "IT on-call".', error: errors.name })}
      ${field('kind', 'Kind', selectInput(KINDS, v.kind), {
        hint: 'Webhook and Teams use the URL below; E-mail the connection and the recipients.',
        error: errors.kind,
      })}
      <fieldset>
        <legend>Webhook or Teams</legend>
        ${field(
          'url',
          'URL',
          textInput(
            '',
            'text',
            html`spellcheck="false" autocomplete="off" inputmode="url"
            ${options.etag ? html`placeholder="leave empty to keep the current URL"` : ''}`,
          ),
          { hint: urlHint, error: errors.url },
        )}
        ${checkbox('f-allowPrivateNetworks', 'allowPrivateNetworks', 'true', 'Allow private networks', v.allowPrivateNetworks === 'true', {
          hint: 'Allows loopback, private and link-local addresses, and http://: for a receiver inside your network.',
          error: errors.allowPrivateNetworks,
        })}
        ${field('timeoutSeconds', 'Timeout (seconds)', textInput(v.timeoutSeconds, 'text', html`inputmode="numeric" autocomplete="off"`), {
          hint: 'How long to wait for an answer, 1 to 60. Empty: 10.',
          error: errors.timeoutSeconds,
        })}
      </fieldset>
      <fieldset>
        <legend>E-mail</legend>
        ${field('connectionId', 'Connection', selectInput(connectionChoices(connections, v.connectionId), v.connectionId), {
          hint: 'An authorized connection of type smtpMicrosoft or exchangeMicrosoft (Connections): the message comes from its account.',
          error: errors.connectionId,
        })}
        ${field('to', 'Recipients', textInput(v.to, 'text', html`spellcheck="false" autocomplete="off"`), {
          hint: 'E-mail addresses separated by commas (1 to 20).',
          error: errors.to,
        })}
        ${field('smtpHost', 'SMTP server', textInput(v.smtpHost, 'text', html`spellcheck="false" autocomplete="off"`), {
          hint: 'With an smtpMicrosoft connection. Empty: smtp.office365.com.',
          error: errors.smtpHost,
        })}
        ${field('smtpPort', 'SMTP port', textInput(v.smtpPort, 'text', html`inputmode="numeric" autocomplete="off"`), {
          hint: 'With an smtpMicrosoft connection, STARTTLS required. Empty: 587.',
          error: errors.smtpPort,
        })}
      </fieldset>
      <fieldset ${errors.events ? html`aria-describedby="f-events-error"` : ''}>
        <legend>Events</legend>
        <p class="hint">The events the channel takes. A test is sent to the channel tested, whatever its events.</p>
        ${CHANNEL_EVENTS.map((t) =>
          checkbox(
            `f-events-${t.replace(/[^A-Za-z0-9_-]/g, '-')}`,
            'events',
            t,
            html`<span class="mono">${t}</span>`,
            state.events.includes(t),
            {
              hint: EVENT_DESCRIPTIONS[t],
            },
          ),
        )}
        ${errors.events ? html`<span class="error" id="f-events-error">${errors.events}</span>` : ''}
      </fieldset>
      ${checkbox('f-enabled', 'enabled', 'true', 'Enabled', v.enabled === 'true', {
        hint: 'A disabled channel receives nothing (tests excepted).',
        error: errors.enabled,
      })}
      <div><button type="submit">${options.submit}</button></div>
    </form>`;
}

const enabledBadge = (c: ChannelView) => (c.options.enabled === false ? badge('neutral', 'Disabled') : badge('ok', 'Enabled'));

/** Where a channel sends: a webhook's host, or an e-mail's connection and recipients. */
function target(c: ChannelView): SafeHtml | string {
  if (c.options.kind === 'email') {
    const connection = str(c.options.connectionId);
    return html`<a href="${consolePath('connections', connection)}">${connection}</a> → ${list(c.options.to).join(', ')}`;
  }
  return c.urlHost ? html`<span class="mono">${c.urlHost}</span>` : '—';
}

const eventsCount = (c: ChannelView) => {
  const events = list(c.options.events);
  if (events.length === 0) return "None (destinations' notifyUser only)";
  return CHANNEL_EVENTS.every((t) => events.includes(t)) ? 'All' : String(events.length);
};

const SEVERITY: Record<string, [Tone, string]> = { error: ['bad', 'Error'], warning: ['warn', 'Warning'], info: ['neutral', 'Info'] };
const OUTCOME: Record<string, [Tone, string]> = { sent: ['ok', 'Sent'], retrying: ['warn', 'Retrying'], failed: ['bad', 'Failed'] };
const WITHOUT_CHANNEL: Record<string, string> = {
  suppressed: 'Suppressed (counted in the next notification of its kind)',
  none: 'None (no channel takes it)',
  pending: 'Pending',
};

function outcomes(e: EventView): SafeHtml {
  const entries = Object.entries(e.channels);
  if (!entries.length) return html`${badge('neutral', WITHOUT_CHANNEL[e.status] ?? e.status)}`;
  return html`<ul class="plain">
    ${entries.map(([channel, o]) => {
      const [tone, label] = OUTCOME[o.status] ?? ['neutral', o.status];
      return html`<li><span class="mono">${channel}</span> ${badge(tone, label)}${o.error ? html` ${o.error}` : ''}</li>`;
    })}
  </ul>`;
}

function eventRow(e: EventView): SafeHtml {
  const [tone, label] = SEVERITY[e.severity] ?? ['neutral', e.severity];
  return html`<tr>
    <td>${time(e.occurredAt)}</td>
    <td>${badge(tone, label)}</td>
    <td>
      ${e.title} <span class="muted mono">(${e.type})</span>
      ${e.link ? html`<br /><a href="${e.link.url}" rel="noopener">${e.link.title}</a>` : ''}
    </td>
    <td>${outcomes(e)}</td>
  </tr>`;
}

/** The e-mail connections of the form (administrators only: readers see no form). */
const formConnections = (ctx: PageContext) => (ctx.canWrite ? listConnections(ctx.deps.oauth) : Promise.resolve([]));

export async function notificationsPage(ctx: PageContext, form?: FormState): Promise<ConsoleResponse> {
  const [channels, events, connections] = await Promise.all([
    listChannels(ctx.deps.notifications),
    recentEvents(ctx.deps.notifications, RECENT_DAYS),
    formConnections(ctx),
  ]);
  const rows = channels.map(
    (c) =>
      html`<tr>
        <td>${str(c.options.name)}</td>
        <td class="mono">${c.id}</td>
        <td>${kindName(c.options.kind)}</td>
        <td>${target(c)}</td>
        <td>${eventsCount(c)}</td>
        <td>${enabledBadge(c)}</td>
        ${
          ctx.canWrite
            ? html`<td>
                <div class="actions">
                  ${actionButton(consolePath('notifications', c.id, 'test'), 'Send a test', ctx.csrf, { style: 'secondary' })}
                  <a class="button secondary" href="${consolePath('notifications', c.id)}">Edit</a>
                  ${actionButton(consolePath('notifications', c.id, 'delete'), 'Delete', ctx.csrf, {
                    style: 'danger',
                    confirm: `Delete the notification channel '${c.id}'? It receives nothing more.`,
                    fields: { etag: c.etag },
                  })}
                </div>
              </td>`
            : ''
        }
      </tr>`,
  );
  const content = html`<p class="lead">
      Where ScanRelay tells administrators that something needs them: a connection to authorize again, a client secret about to expire, a
      scan that could not be delivered. docs/notifications.md describes the events and the channels.
    </p>
    <h2>Channels</h2>
    ${dataTable(
      'Notification channels',
      ['Name', 'Id', 'Kind', 'Target', 'Events', 'State', ...(ctx.canWrite ? ['Actions'] : [])],
      rows,
      'No notification channels yet.',
    )}
    <h2>Recent events</h2>
    <p class="hint">The events of the last ${RECENT_DAYS} days, newest first, with what became of each on every channel.</p>
    ${dataTable('Recent events', ['Time', 'Severity', 'Event', 'Channels'], events.map(eventRow), `No event in the last ${RECENT_DAYS} days.`)}
    ${
      ctx.canWrite
        ? html`<h2 id="create">Add a channel</h2>
            ${channelForm(ctx, consolePath('notifications'), form ?? emptyState(), connections, { submit: 'Add' })}`
        : ''
    }`;
  return htmlResponse(form ? 400 : 200, layout(ctx.chrome('Notifications', 'notifications'), content));
}

export async function createChannelAction(ctx: PageContext): Promise<ConsoleResponse> {
  const { body, state } = readForm(ctx.form!, true);
  try {
    await createChannel(ctx.deps.notifications, ctx.caller.actor, body);
  } catch (err) {
    if (err instanceof ValidationError) return notificationsPage(ctx, withProblems(state, body, err));
    if (isAppError(err) && err.status < 500) return notificationsPage(ctx, { ...state, general: err.message });
    throw err;
  }
  return redirect(consolePath('notifications'), [
    await flashCookie(ctx.deps.oauth.cipher, { kind: 'ok', text: `Notification channel '${str(body.id)}' added.` }),
  ]);
}

export async function channelPage(ctx: PageContext, form?: FormState): Promise<ConsoleResponse> {
  const id = ctx.params[0]!;
  const [c, connections] = await Promise.all([getChannel(ctx.deps.notifications, id), formConnections(ctx)]);
  const events = list(c.options.events);
  const content = html`<p><a href="${consolePath('notifications')}">← Notifications</a></p>
    <dl class="facts">
      <dt>Name</dt>
      <dd>${str(c.options.name)}</dd>
      <dt>Kind</dt>
      <dd>${kindName(c.options.kind)}</dd>
      <dt>Target</dt>
      <dd>${target(c)}</dd>
      <dt>State</dt>
      <dd>${enabledBadge(c)}</dd>
      <dt>Events</dt>
      <dd>${events.length ? html`<span class="mono">${events.join(', ')}</span>` : '—'}</dd>
      <dt>Changed</dt>
      <dd>${time(c.updatedAt)} by ${c.updatedBy}</dd>
    </dl>
    ${
      ctx.canWrite
        ? html`<h2 id="edit">Edit</h2>
            ${channelForm(ctx, consolePath('notifications', id), form ?? stateOf(c), connections, {
              etag: c.etag,
              urlHost: c.urlHost,
              submit: 'Save',
            })}`
        : ''
    }`;
  return htmlResponse(form ? 400 : 200, layout(ctx.chrome(`Notification channel ${id}`, 'notifications'), content));
}

export async function updateChannelAction(ctx: PageContext): Promise<ConsoleResponse> {
  const id = ctx.params[0]!;
  const { body, state } = readForm(ctx.form!, false);
  state.values.id = id;
  const etag = ctx.form!.get('etag') ?? undefined;
  try {
    await replaceChannel(ctx.deps.notifications, ctx.caller.actor, id, body, etag);
  } catch (err) {
    if (err instanceof ValidationError) return channelPage(ctx, withProblems(state, body, err));
    if (isAppError(err) && err.status < 500 && err.status !== 404) return channelPage(ctx, { ...state, general: err.message });
    throw err;
  }
  return redirect(consolePath('notifications'), [
    await flashCookie(ctx.deps.oauth.cipher, { kind: 'ok', text: `Notification channel '${id}' saved.` }),
  ]);
}

export async function testChannelAction(ctx: PageContext): Promise<ConsoleResponse> {
  const id = ctx.params[0]!;
  let flash: Flash;
  try {
    const r = await testChannel(ctx.deps.notifications, ctx.caller.actor, id);
    flash =
      r.status === 'sent'
        ? { kind: 'ok', text: `Test sent to '${id}'.` }
        : {
            kind: 'bad',
            text: `Test failed: ${r.error ?? 'the channel did not take it.'}${r.status === 'retrying' ? ' (An event would be tried again later.)' : ''}`,
          };
  } catch (err) {
    if (!isAppError(err) || err.status >= 500) throw err;
    flash = { kind: 'bad', text: `Test failed: ${err.message}` };
  }
  return redirect(consolePath('notifications'), [await flashCookie(ctx.deps.oauth.cipher, flash)]);
}

export async function deleteChannelAction(ctx: PageContext): Promise<ConsoleResponse> {
  const id = ctx.params[0]!;
  const etag = ctx.form!.get('etag') ?? undefined;
  let flash: Flash;
  try {
    await deleteChannel(ctx.deps.notifications, ctx.caller.actor, id, etag);
    flash = { kind: 'ok', text: `Notification channel '${id}' deleted.` };
  } catch (err) {
    if (!isAppError(err) || err.status >= 500) throw err;
    flash = { kind: 'bad', text: err.message };
  }
  return redirect(consolePath('notifications'), [await flashCookie(ctx.deps.oauth.cipher, flash)]);
}
