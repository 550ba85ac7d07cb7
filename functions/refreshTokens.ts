/** Timer: refreshes the tokens of every due connection so authorizations last (offline_access). */
import { refreshDueConnections } from '../shared/oauth';
import { getServices } from '../shared/services';
import type { TimerFunction } from '../host/definitions';
import { invocationLogger } from '../host/http';

export const refreshTokens: TimerFunction = {
  kind: 'timer',
  name: 'refreshTokens',
  // An app-setting expression: TOKEN_REFRESH_SCHEDULE (default hourly; see README).
  schedule: '%TOKEN_REFRESH_SCHEDULE%',
  handler: async (_timer, context) => {
    const counts = await refreshDueConnections(getServices().oauthDeps(invocationLogger(context)));
    context.log('refreshTokens: done', counts);
  },
};
