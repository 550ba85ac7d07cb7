/**
 * Timer: refreshes the tokens of every due connection so authorizations last (offline_access),
 * deletes the expired state of sign-ins nobody finished, and warns when a client secret expires
 * within 30 days.
 */
import { clientSecretWarnings, deleteExpiredAuthStates, refreshDueConnections } from '../shared/oauth';
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
    const expiredSignIns = await deleteExpiredAuthStates(deps);
    context.log('refreshTokens: done', { ...counts, expiredSignIns });
    for (const w of await clientSecretWarnings(deps.config, deps.secrets)) context.warn(w.message);
  },
};
