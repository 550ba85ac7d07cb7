/** The page around every console page, and the small pieces pages share. */
import { describeActor, type Actor } from '../audit';
import { CONSOLE_PATH } from '../access';
import { SCRIPT, STYLESHEET } from './assets';
import { html, type SafeHtml } from './html';

export type Section = 'overview' | 'connections' | 'destinations' | 'mailboxes' | 'notifications' | 'jobs' | 'directory' | 'audit';

const SECTIONS: ReadonlyArray<[Section, string, string]> = [
  ['overview', 'Overview', ''],
  ['connections', 'Connections', '/connections'],
  ['destinations', 'Destinations', '/destinations'],
  ['mailboxes', 'Mailboxes', '/mailboxes'],
  ['notifications', 'Notifications', '/notifications'],
  ['jobs', 'Jobs', '/jobs'],
  ['directory', 'Directory', '/directory'],
  ['audit', 'Audit log', '/audit'],
];

export interface Flash {
  kind: 'ok' | 'bad';
  text: string;
}

export interface Chrome {
  title: string;
  section?: Section;
  /** The signed-in administrator (absent on the sign-in pages). */
  user?: { actor: Actor; roles: string[]; csrf: string };
  flash?: Flash;
}

/** A console URL from path segments, each encoded: `consolePath('jobs', id)`. */
export function consolePath(...segments: string[]): string {
  return segments.length ? `${CONSOLE_PATH}/${segments.map(encodeURIComponent).join('/')}` : CONSOLE_PATH;
}

/** The signed-in person as the header names them: display name and account, or the account alone. */
function whoName(actor: Actor): string {
  return actor.kind === 'user' && actor.name && actor.name !== actor.upn ? `${actor.name} (${actor.upn})` : describeActor(actor);
}

export function layout(chrome: Chrome, content: SafeHtml): SafeHtml {
  // Without a role every section would answer the 403 page: no navigation then, only Sign out.
  const nav = chrome.user?.roles.length
    ? html`<nav aria-label="Console">
        <ul>
          ${SECTIONS.map(
            ([id, label, path]) =>
              html`<li><a href="${CONSOLE_PATH + path}" ${chrome.section === id ? html`aria-current="page"` : ''}>${label}</a></li>`,
          )}
        </ul>
      </nav>`
    : '';
  const who = chrome.user
    ? html`<div class="who">
        <span>${whoName(chrome.user.actor)} <span class="sr-only">roles:</span>(${chrome.user.roles.join(', ') || 'no role'})</span>
        <form class="inline" method="post" action="${consolePath('signout')}">
          <input type="hidden" name="_csrf" value="${chrome.user.csrf}" />
          <button type="submit">Sign out</button>
        </form>
      </div>`
    : '';
  return html`<!doctype html>
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <title>${chrome.title} · ScanRelay</title>
        <link rel="icon" href="data:," />
        <link rel="stylesheet" href="${CONSOLE_PATH + STYLESHEET.path}" />
        <script src="${CONSOLE_PATH + SCRIPT.path}" defer></script>
      </head>
      <body>
        <a class="skip" href="#main">Skip to content</a>
        <header class="top">
          <a class="brand" href="${CONSOLE_PATH}">ScanRelay</a>
          ${nav} ${who}
        </header>
        <main id="main" tabindex="-1">
          <h1>${chrome.title}</h1>
          ${
            chrome.flash
              ? html`<div class="notice ${chrome.flash.kind}" role="${chrome.flash.kind === 'bad' ? 'alert' : 'status'}">
                  <p>${chrome.flash.text}</p>
                </div>`
              : ''
          }
          ${content}
        </main>
      </body>
    </html>`;
}

export type Tone = 'ok' | 'warn' | 'bad' | 'neutral';

export const badge = (tone: Tone, text: string) => html`<span class="badge ${tone}">${text}</span>`;

/** A time, in UTC on the server; the browser's script shows it in local time. */
export function time(value: Date | string | undefined): SafeHtml | string {
  if (!value) return '—';
  const d = typeof value === 'string' ? new Date(value) : value;
  if (Number.isNaN(d.getTime())) return '—';
  return html`<time datetime="${d.toISOString()}">${d.toISOString().replace('T', ' ').slice(0, 19)} UTC</time>`;
}

export const csrfField = (csrf: string) => html`<input type="hidden" name="_csrf" value="${csrf}" />`;

/** A button that posts a small form (an action on the page), optionally asking first. */
export function actionButton(
  action: string,
  label: string,
  csrf: string,
  options: { confirm?: string; style?: 'secondary' | 'danger'; fields?: Record<string, string> } = {},
): SafeHtml {
  return html`<form class="inline" method="post" action="${action}" ${options.confirm ? html`data-confirm="${options.confirm}"` : ''}>
    ${csrfField(csrf)} ${Object.entries(options.fields ?? {}).map(([k, v]) => html`<input type="hidden" name="${k}" value="${v}" />`)}
    <button type="submit" ${options.style ? html`class="${options.style}"` : ''}>${label}</button>
  </form>`;
}

/** Text that can be copied with one button (the redirect URI to register, say). */
export function copyable(id: string, text: string, label: string): SafeHtml {
  return html`<div class="copy">
    <code id="${id}">${text}</code>
    <button type="button" class="secondary" data-copy="${id}" aria-label="${label}">Copy</button>
    <span id="${id}-status" role="status" class="muted"></span>
  </div>`;
}

/** A labelled form field with its hint and error (the error is tied to the control for screen readers). */
export function field(
  name: string,
  label: string,
  control: (attrs: SafeHtml) => SafeHtml,
  options: { hint?: string; error?: string } = {},
): SafeHtml {
  const id = `f-${name.replace(/[^A-Za-z0-9_-]/g, '-')}`;
  const described = [options.hint ? `${id}-hint` : '', options.error ? `${id}-error` : ''].filter(Boolean).join(' ');
  const attrs = html`id="${id}" name="${name}" ${described ? html`aria-describedby="${described}"` : ''}
  ${options.error ? html`aria-invalid="true"` : ''}`;
  return html`<div class="field">
    <label for="${id}">${label}</label>
    ${control(attrs)} ${options.hint ? html`<span class="hint" id="${id}-hint">${options.hint}</span>` : ''}
    ${options.error ? html`<span class="error" id="${id}-error">${options.error}</span>` : ''}
  </div>`;
}

export const textInput =
  (value = '', type = 'text', extra?: SafeHtml) =>
  (attrs: SafeHtml) =>
    html`<input type="${type}" ${attrs} value="${value}" ${extra ?? ''} />`;

export const selectInput =
  (options: ReadonlyArray<[string, string]>, selected = '') =>
  (attrs: SafeHtml) =>
    html`<select ${attrs}>
      ${options.map(([value, label]) => html`<option value="${value}" ${value === selected ? html`selected` : ''}>${label}</option>`)}
    </select>`;

/** A table in a scrollable, keyboard-focusable region. */
export function dataTable(label: string, head: readonly string[], rows: readonly SafeHtml[], empty: string): SafeHtml {
  if (!rows.length) return html`<p class="muted">${empty}</p>`;
  return html`<div class="table-wrap" role="region" aria-label="${label}" tabindex="0">
    <table>
      <thead>
        <tr>
          ${head.map((h) => html`<th scope="col">${h}</th>`)}
        </tr>
      </thead>
      <tbody>
        ${rows}
      </tbody>
    </table>
  </div>`;
}
