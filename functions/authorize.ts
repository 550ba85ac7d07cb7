/**
 * GET /api/oauth2/client/{connectionId}/authorize — the identity platform's sign-in URL for a
 * connection, as a redirect. For scripts with the admin key (header): open the Location it answers
 * in a browser. The console's Authorize button does the same with the administrator's session.
 */
import { startAuthorization } from '../shared/oauth';
import { getServices } from '../shared/services';
import type { HttpFunction } from '../host/definitions';
import { invocationLogger, withAdmin } from '../host/http';

export const authorize: HttpFunction = {
  kind: 'http',
  name: 'authorize',
  route: 'oauth2/client/{connectionId}/authorize',
  methods: ['GET'],
  authLevel: 'anonymous',
  handler: withAdmin(async (request, context, caller) => {
    const url = await startAuthorization(
      getServices().oauthDeps(invocationLogger(context)),
      caller.actor,
      request.params.connectionId ?? '',
      request.query.get('login_hint') ?? undefined,
    );
    return { status: 302, headers: { location: url, 'cache-control': 'no-store' } };
    // A GET, but it starts a change of the connection's account: ScanRelay.Admin (or the key); a
    // console session cannot follow it as a link (the console's Authorize button posts).
  }, 'write'),
};
