/**
 * Connections: the list with each one's state and what to do about it, creating one, and a
 * connection's page (Authorize / Authorize again, Refresh now, Delete, the redirect URI to
 * register, the permissions its type needs and why). Every action is a shared/oauth operation,
 * the same the JSON admin API calls.
 */
import { CONSOLE_PATH } from '../../access';
import { isAppError } from '../../errors';
import {
  CONNECTION_TYPES,
  PERMISSIONS,
  clientSecretWarnings,
  createConnection,
  deleteConnection,
  getConnection,
  listConnections,
  refreshConnectionNow,
  startAuthorization,
  type ConnectionView,
} from '../../oauth';
import type { PageContext } from '../context';
import { flashCookie } from '../flash';
import { html, type SafeHtml } from '../html';
import {
  actionButton,
  badge,
  consolePath,
  copyable,
  csrfField,
  dataTable,
  field,
  layout,
  selectInput,
  textInput,
  time,
  type Tone,
} from '../layout';
import { htmlResponse, redirect, type ConsoleResponse } from '../response';

const STATE: Record<ConnectionView['state'], [Tone, string]> = {
  authorized: ['ok', 'Authorized'],
  pending: ['neutral', 'Not authorized yet'],
  reauthorization_required: ['bad', 'Must be authorized again'],
  error: ['bad', 'Authorization failed'],
};

export const stateBadge = (c: Pick<ConnectionView, 'state' | 'consecutiveFailures'>) => {
  const [tone, text] = STATE[c.state];
  return html`${badge(tone, text)}
  ${c.state === 'authorized' && c.consecutiveFailures > 0 ? badge('warn', `${c.consecutiveFailures} refresh failure(s)`) : ''}`;
};

const typeName = (type: string) => PERMISSIONS[type as keyof typeof PERMISSIONS]?.displayName ?? type;

export async function connectionsPage(ctx: PageContext, form?: { values: URLSearchParams; error: string }): Promise<ConsoleResponse> {
  const [list, warnings] = await Promise.all([
    listConnections(ctx.deps.oauth),
    clientSecretWarnings(ctx.deps.config.oauth, ctx.deps.oauth.secrets),
  ]);
  const rows = list.map(
    (c) =>
      html`<tr>
        <td><a href="${consolePath('connections', c.id)}">${c.displayName}</a><br /><span class="muted mono">${c.id}</span></td>
        <td>${typeName(c.type)}</td>
        <td>${stateBadge(c)}</td>
        <td>${c.account?.upn ?? c.account?.oid ?? '—'}</td>
        <td>${time(c.lastRefreshAt)}</td>
        <td>${time(c.nextRefreshAt)}</td>
        <td>${time(c.lastUsedAt)}</td>
        <td>${c.lastError ?? ''}${c.errorCode ? html` <span class="muted mono">(${c.errorCode})</span>` : ''}</td>
      </tr>`,
  );
  const content = html` ${warnings.map((w) => html`<div class="notice ${w.daysLeft < 0 ? 'bad' : 'warn'}" role="status"><p>${w.message}</p></div>`)}
    <p class="lead">Accounts ScanRelay acts as: it keeps their tokens encrypted and refreshes them from a timer.</p>
    ${dataTable(
      'Connections',
      ['Connection', 'Type', 'State', 'Account', 'Last refresh', 'Next refresh', 'Last used', 'Last error'],
      rows,
      'No connections yet.',
    )}
    ${ctx.canWrite ? createForm(ctx, form) : ''}`;
  return htmlResponse(form ? 400 : 200, layout(ctx.chrome('Connections', 'connections'), content));
}

function createForm(ctx: PageContext, form?: { values: URLSearchParams; error: string }): SafeHtml {
  const v = (name: string) => form?.values.get(name) ?? '';
  return html`<h2 id="create">Create a connection</h2>
    ${form ? html`<div class="notice bad" role="alert"><p>${form.error}</p></div>` : ''}
    <form class="stack" method="post" action="${consolePath('connections')}">
      ${csrfField(ctx.csrf)}
      ${field(
        'type',
        'Type',
        selectInput(
          CONNECTION_TYPES.map((t) => [t, PERMISSIONS[t].displayName]),
          v('type'),
        ),
      )}
      ${field('displayName', 'Display name', textInput(v('displayName')), { hint: 'What administrators see, e.g. "Scans mailbox".' })}
      ${field('id', 'Id (optional)', textInput(v('id')), {
        hint: 'Lowercase letters, digits and dashes; destinations name the connection by it. Left empty: a new GUID.',
      })}
      <div><button type="submit">Create</button></div>
    </form>`;
}

export async function createConnectionAction(ctx: PageContext): Promise<ConsoleResponse> {
  const f = ctx.form!;
  const body: Record<string, string> = { type: f.get('type') ?? '', displayName: f.get('displayName') ?? '' };
  if (f.get('id')?.trim()) body.id = f.get('id')!.trim();
  try {
    const created = await createConnection(ctx.deps.oauth, ctx.caller.actor, body);
    return redirect(consolePath('connections', created.id), [
      await flashCookie(ctx.deps.oauth.cipher, { kind: 'ok', text: `Connection '${created.displayName}' created. Authorize it next.` }),
    ]);
  } catch (err) {
    if (!isAppError(err) || err.status !== 400) throw err;
    return connectionsPage(ctx, { values: f, error: err.message });
  }
}

export async function connectionPage(ctx: PageContext): Promise<ConsoleResponse> {
  const c = await getConnection(ctx.deps.oauth, ctx.params[0]!);
  const permissions = PERMISSIONS[c.type as keyof typeof PERMISSIONS];
  // A connection in state error that kept its account failed a refresh on the app's configuration (a client secret): refreshable once fixed.
  const authorized = c.state === 'authorized' || c.state === 'reauthorization_required' || (c.state === 'error' && !!c.account);
  const actions = ctx.canWrite
    ? html`<div class="actions">
        <form class="inline" method="post" action="${consolePath('connections', c.id, 'authorize')}">
          ${csrfField(ctx.csrf)}
          <label class="sr-only" for="login_hint">Account to sign in as (optional)</label>
          <input type="email" id="login_hint" name="login_hint" placeholder="account (optional)" value="${c.account?.upn ?? ''}" />
          <button type="submit">${authorized ? 'Authorize again' : 'Authorize'}</button>
        </form>
        ${authorized ? actionButton(consolePath('connections', c.id, 'refresh'), 'Refresh now', ctx.csrf, { style: 'secondary' }) : ''}
        ${actionButton(consolePath('connections', c.id, 'delete'), 'Delete', ctx.csrf, {
          style: 'danger',
          confirm: `Delete the connection '${c.displayName}' and its tokens? Destinations that use it stop delivering.`,
        })}
      </div>`
    : '';
  const content = html`<p><a href="${consolePath('connections')}">← Connections</a></p>
    ${
      c.lastError && c.state !== 'authorized'
        ? html`<div class="notice bad" role="status">
            <p>
              <strong>What went wrong:</strong> ${c.lastError}${c.errorCode ? html` <span class="muted mono">(${c.errorCode})</span>` : ''}
            </p>
          </div>`
        : ''
    }
    <dl class="facts">
      <dt>State</dt>
      <dd>${stateBadge(c)}</dd>
      <dt>Type</dt>
      <dd>${typeName(c.type)} <span class="muted mono">(${c.type})</span></dd>
      <dt>Id</dt>
      <dd class="mono">${c.id}</dd>
      <dt>Tenant</dt>
      <dd class="mono">${c.tenant}</dd>
      <dt>Account</dt>
      <dd>${c.account ? html`${c.account.upn ?? ''} <span class="muted mono">${c.account.oid}</span>` : '—'}</dd>
      <dt>Granted scopes</dt>
      <dd>${c.grantedScopes.length ? html`<span class="mono">${c.grantedScopes.join(' ')}</span>` : '—'}</dd>
      <dt>Last refresh</dt>
      <dd>${time(c.lastRefreshAt)}</dd>
      <dt>Next refresh</dt>
      <dd>${time(c.nextRefreshAt)}</dd>
      <dt>Last used</dt>
      <dd>${time(c.lastUsedAt)}</dd>
      <dt>Failures in a row</dt>
      <dd>${c.consecutiveFailures}</dd>
      <dt>Last error</dt>
      <dd>${c.lastError ?? '—'}</dd>
    </dl>
    ${actions}
    <h2>Redirect URI to register</h2>
    ${
      c.redirectUri
        ? html`<p>
              Add it exactly, as a <em>Web</em> redirect URI, to the app registration (Entra admin center → App registrations → ScanRelay →
              Authentication):
            </p>
            ${copyable('redirect-uri', c.redirectUri, 'Copy the redirect URI')}`
        : html`<div class="notice warn"><p>PUBLIC_BASE_URL is not set: the redirect URI cannot be built.</p></div>`
    }
    <h2>Permissions this type needs</h2>
    ${
      permissions
        ? dataTable(
            'Permissions',
            ['Permission', 'Required', 'Why', 'How ScanRelay uses it'],
            permissions.scopes
              .filter((s, i, all) => all.findIndex((o) => o.scope === s.scope) === i)
              .map(
                (s) =>
                  html`<tr>
                    <td class="mono">${s.scope}</td>
                    <td>${s.required ? 'Required' : 'Optional'}</td>
                    <td>${s.why}</td>
                    <td>${s.how}</td>
                  </tr>`,
              ),
            '',
          )
        : ''
    }`;
  return htmlResponse(200, layout(ctx.chrome(c.displayName, 'connections'), content));
}

export async function authorizeAction(ctx: PageContext): Promise<ConsoleResponse> {
  const id = ctx.params[0]!;
  const hint = ctx.form!.get('login_hint')?.trim() || undefined;
  try {
    const location = await startAuthorization(ctx.deps.oauth, ctx.caller.actor, id, hint, consolePath('connections', id));
    return redirect(location);
  } catch (err) {
    if (!isAppError(err) || err.status >= 500) throw err;
    return redirect(consolePath('connections', id), [await flashCookie(ctx.deps.oauth.cipher, { kind: 'bad', text: err.message })]);
  }
}

export async function refreshAction(ctx: PageContext): Promise<ConsoleResponse> {
  const id = ctx.params[0]!;
  let flash: { kind: 'ok' | 'bad'; text: string };
  try {
    await refreshConnectionNow(ctx.deps.oauth, ctx.caller.actor, id);
    flash = { kind: 'ok', text: 'Refreshed: the connection works.' };
  } catch (err) {
    if (!isAppError(err) || err.status === 500) throw err;
    flash = { kind: 'bad', text: err.message };
  }
  return redirect(consolePath('connections', id), [await flashCookie(ctx.deps.oauth.cipher, flash)]);
}

export async function deleteAction(ctx: PageContext): Promise<ConsoleResponse> {
  const id = ctx.params[0]!;
  await deleteConnection(ctx.deps.oauth, ctx.caller.actor, id);
  return redirect(`${CONSOLE_PATH}/connections`, [
    await flashCookie(ctx.deps.oauth.cipher, { kind: 'ok', text: `Connection '${id}' and its tokens were deleted.` }),
  ]);
}
