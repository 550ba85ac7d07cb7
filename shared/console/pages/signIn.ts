/** The pages before and around a session: sign in, signed in without a role, a refused request. */
import { ADMIN_ROLE, CONSOLE_PATH, READER_ROLE, type Caller } from '../../access';
import { describeActor } from '../../audit';
import type { ConsoleConfig } from '../../config';
import { html, type SafeHtml } from '../html';
import { consolePath, layout } from '../layout';

export function signInPage(config: ConsoleConfig, returnTo: string, reason?: 'ended' | 'signedOut'): SafeHtml {
  const note =
    reason === 'ended'
      ? html`<div class="notice warn" role="status"><p>Your session has ended. Sign in again.</p></div>`
      : reason === 'signedOut'
        ? html`<div class="notice ok" role="status"><p>You are signed out.</p></div>`
        : '';
  const signIn = config.signIn;
  let body: SafeHtml;
  if (signIn.kind === 'entra') {
    body = html`<p>Sign in with your work account of the organization that runs ScanRelay.</p>
      <p>
        <a class="button" href="${`${consolePath('signin', 'start')}?returnTo=${encodeURIComponent(returnTo)}`}">Sign in with Microsoft</a>
      </p>
      <p class="muted">You need the app role ${ADMIN_ROLE} (to change things) or ${READER_ROLE} (to look).</p>`;
  } else if (signIn.kind === 'development') {
    body = html`<div class="notice warn">
        <p><strong>Development sign-in.</strong> This console runs without Microsoft Entra ID settings, on this computer only.</p>
      </div>
      <p>Open the one-time sign-in link that <code>npm start</code> printed in its terminal (valid for 24 hours).</p>
      <p>For a new link, run <code>npm run console-link</code> while the app is running.</p>`;
  } else {
    body = html`<div class="notice bad"><p>${signIn.reason}</p></div>
      <p>Scripts can still use the admin API with the admin key (<code>x-functions-key</code>).</p>`;
  }
  return layout({ title: 'Sign in' }, html`<div class="signin">${note}${body}</div>`);
}

/** The outcome of a sign-in that did not work, with the way back. */
export function signInFailedPage(title: string, message: string): SafeHtml {
  return layout(
    { title },
    html`<div class="signin">
      <div class="notice bad" role="alert"><p>${message}</p></div>
      <p><a class="button" href="${consolePath('signin')}">Sign in again</a></p>
    </div>`,
  );
}

/** Signed in, but without the role the page needs: which role to assign, and where. */
export function forbiddenPage(caller: Caller, csrf: string, needed: string): SafeHtml {
  const who = describeActor(caller.actor);
  const hasNone = caller.roles.length === 0;
  return layout(
    { title: hasNone ? 'No access to ScanRelay' : 'Not allowed', user: { actor: caller.actor, roles: caller.roles, csrf } },
    html`<div class="notice bad" role="alert">
        <p>
          You are signed in as <strong>${who}</strong>,
          ${hasNone ? 'without a role on ScanRelay' : `with the role ${caller.roles.join(', ')}`}. This needs the app role
          <strong>${needed}</strong>.
        </p>
      </div>
      <h2>How to get access</h2>
      <ol>
        <li>
          An administrator of your tenant opens the Microsoft Entra admin center → <em>Enterprise applications</em> → ScanRelay's app →
          <em>Users and groups</em>.
        </li>
        <li><em>Add user/group</em>: choose ${who} (or a group), and the role ${needed}.</li>
        <li>Sign out here and sign in again: the role arrives with the new sign-in.</li>
      </ol>
      <p>${ADMIN_ROLE} may change everything; ${READER_ROLE} may look at everything.</p>
      ${hasNone ? '' : html`<p><a href="${CONSOLE_PATH}">Back to the console</a></p>`}`,
  );
}

/** A change that did not come from the console's own page (CSRF token or origin wrong). */
export function refusedPage(message: string): SafeHtml {
  return layout(
    { title: 'Request refused' },
    html`<div class="notice bad" role="alert"><p>${message}</p></div>
      <p><a href="${CONSOLE_PATH}">Back to the console</a></p>`,
  );
}

export function notFoundPage(what: string): SafeHtml {
  return layout(
    { title: 'Not found' },
    html`<p>${what}</p>
      <p><a href="${CONSOLE_PATH}">Back to the console</a></p>`,
  );
}
