/**
 * GET /api/oauth2/client/{connectionType}/authorize-callback — where the identity platform sends
 * the administrator back. Anonymous (the identity platform calls it); protected by `state`.
 */
import type { HttpResponseInit } from '@azure/functions';
import { flashCookie } from '../shared/console';
import { completeAuthorization, renderCallbackPage } from '../shared/oauth';
import { getServices } from '../shared/services';
import type { HttpFunction } from '../host/definitions';
import { httpCookie, invocationLogger, withErrors } from '../host/http';

export const authorizeCallback: HttpFunction = {
  kind: 'http',
  name: 'authorizeCallback',
  route: 'oauth2/client/{connectionType}/authorize-callback',
  methods: ['GET'],
  authLevel: 'anonymous',
  handler: withErrors(async (request, context): Promise<HttpResponseInit> => {
    const q = request.query;
    const outcome = await completeAuthorization(getServices().oauthDeps(invocationLogger(context)), request.params.connectionType ?? '', {
      code: q.get('code') ?? undefined,
      state: q.get('state') ?? undefined,
      error: q.get('error') ?? undefined,
      error_description: q.get('error_description') ?? undefined,
    });
    if (outcome.returnTo) {
      // Started from the console: back to it, the outcome in a one-time message.
      const flash = outcome.ok
        ? {
            kind: 'ok' as const,
            text: `Authorized as ${outcome.connection.account?.upn ?? outcome.connection.account?.oid ?? 'the account'}.`,
          }
        : { kind: 'bad' as const, text: `${outcome.title}: ${outcome.message}` };
      const cookie = await flashCookie(getServices().oauthDeps(invocationLogger(context)).cipher, flash);
      return { status: 303, headers: { location: outcome.returnTo, 'cache-control': 'no-store' }, cookies: [httpCookie(cookie)] };
    }
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
