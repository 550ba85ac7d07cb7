/**
 * Timer: refreshes the tokens of every due connection so authorizations last (offline_access),
 * and warns when a client secret expires within 30 days.
 */
import { clientSecretWarnings, refreshDueConnections } from '../shared/oauth';
import { getServices } from '../shared/services';
import type { TimerFunction } from '../host/definitions';
import { invocationLogger } from '../host/http';

export const refreshTokens: TimerFunction = {
  kind: 'timer',
  name: 'refreshTokens',
  // An app-setting expression: TOKEN_REFRESH_SCHEDULE (default hourly; see README).
  schedule: '%TOKEN_REFRESH_SCHEDULE%',
  handler: async (_timer, context) => {
    const deps = getServices().oauthDeps(invocationLogger(context));
    const counts = await refreshDueConnections(deps);
    context.log('refreshTokens: done', counts);
    for (const w of await clientSecretWarnings(deps.config, deps.secrets)) context.warn(w.message);
  },
};
