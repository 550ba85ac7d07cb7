/**
 * The admin console: server-rendered pages under /api/console (the Functions route prefix `api`
 * stays, so POST /api/scan and every existing URL are unchanged, and the console needs no second
 * host or CORS). Every value is escaped by construction (html.ts); the only script is a static
 * file (assets.ts) and the CSP forbids any other. Pages call the same shared/ operations as the
 * JSON admin API; forms post and redirect (303), so the console works without its script.
 *
 * Access (shared/access): the sign-in pages are public; every other page needs a session with
 * ScanRelay.Reader, every form ScanRelay.Admin plus the session's CSRF token and this app's Origin.
 */
import {
  CONSOLE_PATH,
  checkSameOrigin,
  clearSessionCookie,
  completeDevelopmentSignIn,
  completeSignIn,
  csrfToken,
  identify,
  mayAccess,
  roleFor,
  safeReturnTo,
  startSignIn,
  type Access,
  type SetCookie,
} from '../access';
import { AppError, isAppError } from '../errors';
import { ASSETS } from './assets';
import type { ConsoleDeps, PageContext } from './context';
import { takeFlash } from './flash';
import { auditPage } from './pages/audit';
import { directoryPage, recountAction } from './pages/directory';
import { authorizeAction, connectionPage, connectionsPage, createConnectionAction, deleteAction, refreshAction } from './pages/connections';
import { jobFileDownload, jobPage, jobsPage, redeliverAction } from './pages/jobs';
import {
  browsePage,
  createDestinationAction,
  deleteDestinationAction,
  destinationPage,
  destinationsPage,
  enableAction,
  restoreAction,
  routingTestPage,
  sendTestAction,
  updateDestinationAction,
  versionsPage,
} from './pages/destinations';
import { createMailboxAction, deleteMailboxAction, mailboxesPage, mailboxPage, updateMailboxAction } from './pages/mailboxes';
import {
  channelPage,
  createChannelAction,
  deleteChannelAction,
  notificationsPage,
  testChannelAction,
  updateChannelAction,
} from './pages/notifications';
import { overviewPage } from './pages/overview';
import { forbiddenPage, notFoundPage, refusedPage, signInFailedPage, signInPage } from './pages/signIn';
import { htmlResponse, redirect, securityHeaders, type ConsoleRequest, type ConsoleResponse } from './response';

export type { ConsoleDeps } from './context';
export type { ConsoleRequest, ConsoleResponse } from './response';
export { flashCookie } from './flash';

interface Route {
  method: 'GET' | 'POST';
  pattern: RegExp;
  access: Access;
  handle(ctx: PageContext): Promise<ConsoleResponse>;
}

const ID = '([^/]+)';

const ROUTES: Route[] = [
  { method: 'GET', pattern: /^\/?$/, access: 'read', handle: overviewPage },
  { method: 'GET', pattern: /^\/connections$/, access: 'read', handle: (ctx) => connectionsPage(ctx) },
  { method: 'POST', pattern: /^\/connections$/, access: 'write', handle: createConnectionAction },
  { method: 'GET', pattern: new RegExp(`^/connections/${ID}$`), access: 'read', handle: connectionPage },
  { method: 'POST', pattern: new RegExp(`^/connections/${ID}/authorize$`), access: 'write', handle: authorizeAction },
  { method: 'POST', pattern: new RegExp(`^/connections/${ID}/refresh$`), access: 'write', handle: refreshAction },
  { method: 'POST', pattern: new RegExp(`^/connections/${ID}/delete$`), access: 'write', handle: deleteAction },
  { method: 'GET', pattern: /^\/destinations$/, access: 'read', handle: (ctx) => destinationsPage(ctx) },
  { method: 'POST', pattern: /^\/destinations$/, access: 'write', handle: createDestinationAction },
  // Literal paths before destinations/{id}.
  { method: 'GET', pattern: /^\/destinations\/versions$/, access: 'read', handle: versionsPage },
  { method: 'POST', pattern: /^\/destinations\/versions\/(\d{1,10})\/restore$/, access: 'write', handle: restoreAction },
  { method: 'GET', pattern: /^\/destinations\/routing-test$/, access: 'read', handle: routingTestPage },
  { method: 'GET', pattern: /^\/destinations\/browse$/, access: 'read', handle: browsePage },
  { method: 'GET', pattern: new RegExp(`^/destinations/${ID}$`), access: 'read', handle: (ctx) => destinationPage(ctx) },
  { method: 'POST', pattern: new RegExp(`^/destinations/${ID}$`), access: 'write', handle: updateDestinationAction },
  { method: 'POST', pattern: new RegExp(`^/destinations/${ID}/enable$`), access: 'write', handle: enableAction(true) },
  { method: 'POST', pattern: new RegExp(`^/destinations/${ID}/disable$`), access: 'write', handle: enableAction(false) },
  { method: 'POST', pattern: new RegExp(`^/destinations/${ID}/test$`), access: 'write', handle: sendTestAction },
  { method: 'POST', pattern: new RegExp(`^/destinations/${ID}/delete$`), access: 'write', handle: deleteDestinationAction },
  { method: 'GET', pattern: /^\/mailboxes$/, access: 'read', handle: (ctx) => mailboxesPage(ctx) },
  { method: 'POST', pattern: /^\/mailboxes$/, access: 'write', handle: createMailboxAction },
  { method: 'GET', pattern: new RegExp(`^/mailboxes/${ID}$`), access: 'read', handle: (ctx) => mailboxPage(ctx) },
  { method: 'POST', pattern: new RegExp(`^/mailboxes/${ID}$`), access: 'write', handle: updateMailboxAction },
  { method: 'POST', pattern: new RegExp(`^/mailboxes/${ID}/delete$`), access: 'write', handle: deleteMailboxAction },
  { method: 'GET', pattern: /^\/notifications$/, access: 'read', handle: (ctx) => notificationsPage(ctx) },
  { method: 'POST', pattern: /^\/notifications$/, access: 'write', handle: createChannelAction },
  { method: 'GET', pattern: new RegExp(`^/notifications/${ID}$`), access: 'read', handle: (ctx) => channelPage(ctx) },
  { method: 'POST', pattern: new RegExp(`^/notifications/${ID}$`), access: 'write', handle: updateChannelAction },
  { method: 'POST', pattern: new RegExp(`^/notifications/${ID}/test$`), access: 'write', handle: testChannelAction },
  { method: 'POST', pattern: new RegExp(`^/notifications/${ID}/delete$`), access: 'write', handle: deleteChannelAction },
  { method: 'GET', pattern: /^\/directory$/, access: 'read', handle: directoryPage },
  { method: 'POST', pattern: /^\/directory\/recount$/, access: 'write', handle: recountAction },
  { method: 'GET', pattern: /^\/jobs$/, access: 'read', handle: jobsPage },
  { method: 'GET', pattern: new RegExp(`^/jobs/${ID}$`), access: 'read', handle: jobPage },
  { method: 'GET', pattern: new RegExp(`^/jobs/${ID}/files/${ID}$`), access: 'read', handle: jobFileDownload },
  { method: 'POST', pattern: new RegExp(`^/jobs/${ID}/redeliver$`), access: 'write', handle: redeliverAction },
  { method: 'GET', pattern: /^\/audit$/, access: 'read', handle: auditPage },
];

export async function handleConsole(deps: ConsoleDeps, request: ConsoleRequest): Promise<ConsoleResponse> {
  const response = await route(deps, request);
  response.headers = { ...securityHeaders(deps.config.oauth.authorityHost), ...response.headers };
  return response;
}

async function route(deps: ConsoleDeps, request: ConsoleRequest): Promise<ConsoleResponse> {
  const { method, path } = request;
  const asset = method === 'GET' ? ASSETS.find((a) => a.path === path) : undefined;
  if (asset) {
    return {
      status: 200,
      headers: { 'content-type': asset.contentType, 'cache-control': 'public, max-age=31536000, immutable' },
      cookies: [],
      body: asset.body,
    };
  }
  const pub = await publicRoute(deps, request);
  if (pub) return pub;

  const identified = await identify(deps.access, request);
  if (!identified.ok || identified.caller.via !== 'session') {
    const back = `${CONSOLE_PATH}/signin?returnTo=${encodeURIComponent(method === 'GET' ? `${CONSOLE_PATH}${path}${queryOf(request)}` : CONSOLE_PATH)}`;
    return redirect(
      identified.ok || identified.reason !== 'expired' ? back : `${back}&ended=1`,
      identified.ok ? [] : [clearSessionCookie()],
    );
  }
  const caller = identified.caller;
  const session = caller.session!;
  const csrf = csrfToken(session);
  const cookies: SetCookie[] = caller.renewed ? [caller.renewed] : [];
  const finish = (r: ConsoleResponse) => ({ ...r, cookies: [...cookies, ...r.cookies] });

  if (method === 'POST' && path === '/signout') {
    const form = await request.form();
    try {
      checkSameOrigin(deps.access, request, session, form.get('_csrf'));
    } catch (err) {
      if (isAppError(err)) return htmlResponse(403, refusedPage(err.message));
      throw err;
    }
    deps.log.info('console: signed out', { oid: session.user.oid });
    return redirect(`${CONSOLE_PATH}/signin?signedOut=1`, [clearSessionCookie()]);
  }

  let params: string[] = [];
  let found: Route | undefined;
  let pathKnown = false;
  for (const r of ROUTES) {
    const m = r.pattern.exec(path);
    if (!m) continue;
    pathKnown = true;
    if (r.method !== method) continue;
    try {
      params = m.slice(1).map((p) => decodeURIComponent(p));
    } catch {
      return finish(htmlResponse(400, notFoundPage('The address is malformed.')));
    }
    found = r;
    break;
  }
  if (!found) {
    return finish(
      pathKnown
        ? { status: 405, headers: { 'content-type': 'text/plain; charset=utf-8' }, cookies: [], body: 'Method not allowed.' }
        : htmlResponse(404, notFoundPage('There is no console page at this address.')),
    );
  }
  if (!mayAccess(caller, found.access)) return finish(htmlResponse(403, forbiddenPage(caller, csrf, roleFor(found.access))));

  let form: URLSearchParams | undefined;
  if (method === 'POST') {
    form = await request.form();
    try {
      checkSameOrigin(deps.access, request, session, form.get('_csrf'));
    } catch (err) {
      if (isAppError(err)) return finish(htmlResponse(403, refusedPage(err.message)));
      throw err;
    }
  }
  const { flash, clear } = method === 'GET' ? await takeFlash(deps.oauth.cipher, request.headers.get('cookie')) : {};
  if (clear) cookies.push(clear);
  const ctx: PageContext = {
    deps,
    request,
    caller,
    csrf,
    canWrite: mayAccess(caller, 'write'),
    flash,
    form,
    params,
    chrome: (title, section) => ({
      title,
      section,
      flash,
      user: { actor: caller.actor, roles: caller.roles, csrf },
    }),
  };
  try {
    return finish(await found.handle(ctx));
  } catch (err) {
    // A page's own 4xx (a job or connection that does not exist, a bad id): said on the page.
    if (err instanceof AppError && err.status < 500) {
      return finish(htmlResponse(err.status === 404 ? 404 : 400, notFoundPage(err.message)));
    }
    throw err;
  }
}

/** The pages anyone may open: sign in, its callbacks. */
async function publicRoute(deps: ConsoleDeps, request: ConsoleRequest): Promise<ConsoleResponse | undefined> {
  if (request.method !== 'GET') return undefined;
  const q = request.query;
  switch (request.path) {
    case '/signin': {
      const reason = q.get('ended') ? 'ended' : q.get('signedOut') ? 'signedOut' : undefined;
      return htmlResponse(200, signInPage(deps.config.console, safeReturnTo(q.get('returnTo')), reason));
    }
    case '/signin/start': {
      if (deps.config.console.signIn.kind !== 'entra') return redirect(`${CONSOLE_PATH}/signin`);
      const started = await startSignIn(deps.signIn, safeReturnTo(q.get('returnTo')));
      return { status: 302, headers: { location: started.location, 'cache-control': 'no-store' }, cookies: started.cookies };
    }
    case '/signin-callback': {
      const outcome = await completeSignIn(
        deps.signIn,
        {
          code: q.get('code') ?? undefined,
          state: q.get('state') ?? undefined,
          error: q.get('error') ?? undefined,
          error_description: q.get('error_description') ?? undefined,
        },
        request.headers.get('cookie'),
      );
      if (outcome.ok) return redirect(outcome.returnTo, outcome.cookies);
      return htmlResponse(outcome.status, signInFailedPage(outcome.title, outcome.message), outcome.cookies);
    }
    case '/dev-signin': {
      const outcome = await completeDevelopmentSignIn(deps.signIn, q.get('token'));
      if (outcome.ok) return redirect(outcome.returnTo, outcome.cookies);
      return htmlResponse(outcome.status, signInFailedPage(outcome.title, outcome.message), outcome.cookies);
    }
    default:
      return undefined;
  }
}

function queryOf(request: ConsoleRequest): string {
  const s = request.query.toString();
  return s ? `?${s}` : '';
}
