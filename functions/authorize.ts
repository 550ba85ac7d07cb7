/** GET /api/oauth2/client/{connectionId}/authorize — redirects the administrator to sign in. */
import { startAuthorization } from '../shared/oauth';
import { getServices } from '../shared/services';
import type { HttpFunction } from '../host/definitions';
import { invocationLogger, withErrors } from '../host/http';

export const authorize: HttpFunction = {
  kind: 'http',
  name: 'authorize',
  route: 'oauth2/client/{connectionId}/authorize',
  methods: ['GET'],
  authLevel: 'admin',
  handler: withErrors(async (request, context) => {
    const url = await startAuthorization(
      getServices().oauthDeps(invocationLogger(context)),
      request.params.connectionId ?? '',
      request.query.get('login_hint') ?? undefined,
    );
    return { status: 302, headers: { location: url, 'cache-control': 'no-store' } };
  }),
};
