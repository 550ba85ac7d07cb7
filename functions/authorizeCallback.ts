/**
 * GET /api/oauth2/client/{connectionType}/authorize-callback — where the identity platform sends
 * the administrator back. Anonymous (the identity platform calls it); protected by `state`.
 */
import { completeAuthorization, renderCallbackPage } from '../shared/oauth';
import { getServices } from '../shared/services';
import type { HttpFunction } from '../host/definitions';
import { invocationLogger, withErrors } from '../host/http';

export const authorizeCallback: HttpFunction = {
  kind: 'http',
  name: 'authorizeCallback',
  route: 'oauth2/client/{connectionType}/authorize-callback',
  methods: ['GET'],
  authLevel: 'anonymous',
  handler: withErrors(async (request, context) => {
    const q = request.query;
    const outcome = await completeAuthorization(getServices().oauthDeps(invocationLogger(context)), request.params.connectionType ?? '', {
      code: q.get('code') ?? undefined,
      state: q.get('state') ?? undefined,
      error: q.get('error') ?? undefined,
      error_description: q.get('error_description') ?? undefined,
    });
    return {
      status: outcome.ok ? 200 : outcome.status,
      headers: {
        'content-type': 'text/html; charset=utf-8',
        'cache-control': 'no-store',
        'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'",
        'referrer-policy': 'no-referrer',
      },
      body: renderCallbackPage(outcome),
    };
  }),
};
