/**
 * Directory: how many users and groups ScanRelay holds, find a user and the fields delivery fills
 * from them, the last SCIM request and errors, the directory sync runs, and what needs attention.
 * Every value comes from shared/directoryStatus, the same operations GET /api/directory and
 * GET /api/directory/users answer with.
 */
import {
  directoryStatus,
  directoryStatusDeps,
  findDirectoryUser,
  recountDirectory,
  type AttentionItem,
  type FoundUser,
  type FoundUsers,
  type SyncRunView,
} from '../../directoryStatus';
import type { UserFacts } from '../../delivery/userFacts';
import { isAppError } from '../../errors';
import type { PageContext } from '../context';
import { flashCookie } from '../flash';
import { html, type SafeHtml } from '../html';
import { actionButton, badge, consolePath, dataTable, field, layout, textInput, time, type Tone } from '../layout';
import { htmlResponse, redirect, type ConsoleResponse } from '../response';

const DAY = 86_400_000;

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;

/** The job fields delivery fills, in the order the page lists them. */
const FIELDS: ReadonlyArray<[keyof UserFacts, string]> = [
  ['userEmail', 'E-mail'],
  ['userFirstName', 'First name'],
  ['userSurname', 'Surname'],
  ['userDisplayName', 'Display name'],
  ['userDepartment', 'Department'],
  ['userHome', 'Home folder'],
];

const RUN: Record<SyncRunView['status'], [Tone, string]> = {
  running: ['neutral', 'Running'],
  completed: ['ok', 'Completed'],
  interrupted: ['warn', 'Stopped early (throttled)'],
  failed: ['bad', 'Failed'],
  unfinished: ['bad', 'Never finished'],
};

const MATCH: Record<FoundUser['matchedBy'][number], string> = {
  userName: 'userName',
  externalId: 'externalId',
  id: 'id',
  userNamePrefix: 'start of the userName',
  mailPrefix: 'start of an e-mail address',
};

const SEVERITY: Record<AttentionItem['severity'], string> = { error: 'bad', warning: 'warn', info: 'neutral' };

const statusTone = (status: number): Tone => (status >= 500 ? 'bad' : status >= 400 ? 'warn' : 'ok');

export async function directoryPage(ctx: PageContext): Promise<ConsoleResponse> {
  const deps = directoryStatusDeps(ctx.deps.config, ctx.deps.storage);
  const findParam = ctx.request.query.get('find');
  const [{ overview, attention }, found] = await Promise.all([
    directoryStatus(deps, new Date(Date.now() - DAY)),
    findParam === null ? Promise.resolve(undefined) : find(ctx, findParam),
  ]);
  const { counts, scim, sync } = overview;
  const content = html`<p class="lead">
      Users and groups come from
      ${overview.source === 'scim' ? html`Entra ID provisioning (SCIM)` : html`directory sync (Microsoft Graph, ${sync.schedule})`};
      delivery fills a job's missing user fields from them.
    </p>
    ${
      attention.length
        ? html`<h2>Needs attention</h2>
            <ul class="attention">
              ${attention.map(
                (a) =>
                  html`<li class="notice ${SEVERITY[a.severity]}">
                    <p><strong>${a.title}</strong>${a.at ? html` <span class="muted">(last ${time(a.at)})</span>` : ''}</p>
                    <p>${a.detail}</p>
                    <p>${a.fixHint}</p>
                  </li>`,
              )}
            </ul>`
        : ''
    }
    <h2>Counts</h2>
    <div class="cards">
      ${card(counts.users.total, 'Users')} ${card(counts.users.active, 'Active users')} ${card(counts.users.inactive, 'Inactive users')}
      ${card(counts.groups.total, 'Groups')}
    </div>
    <p class="muted">
      Users from SCIM: ${counts.users.bySource.scim}, from directory sync: ${counts.users.bySource.sync}. Groups from SCIM:
      ${counts.groups.bySource.scim}, from directory sync: ${counts.groups.bySource.sync}.
      ${counts.recountedAt ? html`Last recounted ${time(counts.recountedAt)}.` : ''}
      ${counts.complete ? '' : html`<strong>Users or groups stored before counting began are not included yet: recount.</strong>`}
    </p>
    ${ctx.canWrite ? actionButton(consolePath('directory', 'recount'), 'Recount', ctx.csrf, { style: 'secondary' }) : ''}

    <h2 id="find">Find a user</h2>
    <form class="filters" method="get" action="${consolePath('directory')}" role="search" aria-labelledby="find">
      ${field('find', 'userName, e-mail, externalId or id', textInput(found?.find ?? findParam ?? '', 'search'), {
        hint: 'A userName (any letter case, as delivery looks a job\u2019s username up) or e-mail address, or their start; an exact externalId or id',
        ...(found && 'error' in found ? { error: found.error } : {}),
      })}
      <div><button type="submit">Find</button></div>
    </form>
    ${found && 'users' in found ? foundUsers(found) : ''}

    <h2>SCIM</h2>
    ${
      scim.lastRequest
        ? html`<p>
            Last request: ${time(scim.lastRequest.at)} <span class="mono">${scim.lastRequest.method} ${scim.lastRequest.path}</span>
            ${badge(statusTone(scim.lastRequest.status), String(scim.lastRequest.status))}
          </p>`
        : html`<p class="muted">No SCIM request has reached ScanRelay.</p>`
    }
    <h3>Last errors</h3>
    ${dataTable(
      'SCIM errors',
      ['When', 'Request', 'Answer', 'Detail', 'Times'],
      scim.errors.map(
        (e) =>
          html`<tr>
            <td>${time(e.lastAt)}${e.count > 1 ? html`<br /><span class="muted">first ${time(e.at)}</span>` : ''}</td>
            <td class="mono">${e.method} ${e.path}</td>
            <td>${badge(statusTone(e.status), String(e.status))} ${e.scimType ?? ''}</td>
            <td>${e.detail}</td>
            <td>${e.count}</td>
          </tr>`,
      ),
      'No SCIM errors.',
    )}

    <h2>Directory sync runs</h2>
    ${dataTable(
      'Directory sync runs',
      ['Started', 'Ended', 'Outcome', 'Counts', 'Error'],
      sync.runs.map(
        (r) =>
          html`<tr>
            <td>${time(r.startedAt)}</td>
            <td>${time(r.finishedAt)}</td>
            <td>${badge(RUN[r.status][0], RUN[r.status][1])}</td>
            <td>${runCounts(r.counts)}</td>
            <td>${r.error ? html`<span class="mono">${r.error.code}</span>: ${r.error.message}` : (r.reason ?? '')}</td>
          </tr>`,
      ),
      overview.source === 'sync' ? 'No directory sync run is recorded yet.' : 'Directory sync is off (DIRECTORY_SOURCE=scim).',
    )}`;
  return htmlResponse(found && 'error' in found ? 400 : 200, layout(ctx.chrome('Directory', 'directory'), content));
}

async function find(ctx: PageContext, value: string): Promise<FoundUsers | { find: string; error: string }> {
  try {
    return await findDirectoryUser(directoryStatusDeps(ctx.deps.config, ctx.deps.storage), value);
  } catch (err) {
    if (isAppError(err) && err.code === 'invalid_find') return { find: value.slice(0, 300), error: err.message };
    throw err;
  }
}

const card = (value: number, label: string) =>
  html`<div class="card">
    <div class="value">${value.toLocaleString('en-GB')}</div>
    <div class="label">${label}</div>
  </div>`;

function runCounts(counts: unknown): SafeHtml | string {
  if (!counts || typeof counts !== 'object') return '';
  const parts = Object.entries(counts as Record<string, unknown>).filter(([, v]) => typeof v === 'number' && v > 0);
  return parts.length
    ? html`${parts.map(([k, v], i) => html`${i ? ', ' : ''}${k} ${String(v)}`)}`
    : html`<span class="muted">no changes</span>`;
}

function foundUsers(found: FoundUsers): SafeHtml {
  if (!found.users.length)
    return html`<div class="notice warn" role="status">
      <p>No user has a userName or e-mail address starting with '${found.find}', nor that externalId or id.</p>
    </div>`;
  return html`<div role="status" class="sr-only">${found.users.length} user${found.users.length > 1 ? 's' : ''} found.</div>
    ${found.users.map(foundUser)}`;
}

function foundUser(u: FoundUser): SafeHtml {
  return html`<section class="card found-user" aria-label="User ${u.userName}">
    <h3>${u.displayName ?? u.userName}</h3>
    <dl class="facts">
      <dt>userName</dt>
      <dd class="mono">${u.userName}</dd>
      <dt>State</dt>
      <dd>${u.active ? badge('ok', 'Active') : badge('bad', 'Inactive')}</dd>
      <dt>Source</dt>
      <dd>${u.source === 'scim' ? 'SCIM provisioning' : 'Directory sync'}</dd>
      <dt>Found by</dt>
      <dd>${u.matchedBy.map((m) => MATCH[m]).join(', ')}</dd>
      <dt>Id</dt>
      <dd class="mono">${u.id}</dd>
      <dt>externalId</dt>
      <dd class="mono">${u.externalId ?? '—'}</dd>
      <dt>Groups</dt>
      <dd>${u.groups.length ? u.groups.map((g) => g.displayName).join(', ') : '—'}</dd>
      <dt>Last changed</dt>
      <dd>${time(u.lastModified)}</dd>
    </dl>
    <h4>What delivery fills from this user</h4>
    ${u.delivery.note ? html`<div class="notice warn"><p>${u.delivery.note}</p></div>` : ''}
    ${dataTable(
      `Delivery fields of ${u.userName}`,
      ['Job field', 'Meaning', 'Value'],
      FIELDS.map(
        ([key, label]) =>
          html`<tr>
            <td class="mono">${key}</td>
            <td>${label}</td>
            <td>${u.delivery.fields[key] ?? html`<span class="muted">— (not set)</span>`}</td>
          </tr>`,
      ),
      '',
    )}
    <p class="muted">Fields the printer sends with the job always win; only missing or empty ones are filled.</p>
  </section>`;
}

export async function recountAction(ctx: PageContext): Promise<ConsoleResponse> {
  let flash: { kind: 'ok' | 'bad'; text: string };
  try {
    const counts = await recountDirectory(directoryStatusDeps(ctx.deps.config, ctx.deps.storage), ctx.caller.actor);
    flash = { kind: 'ok', text: `Recounted: ${plural(counts.users.total, 'user')} and ${plural(counts.groups.total, 'group')}.` };
  } catch (err) {
    if (!isAppError(err) || err.status === 500) throw err;
    flash = { kind: 'bad', text: err.message };
  }
  return redirect(consolePath('directory'), [await flashCookie(ctx.deps.oauth.cipher, flash)]);
}
