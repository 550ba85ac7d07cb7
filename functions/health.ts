/**
 * GET /api/health — 200 when the app can work; 503 naming the setting when a setting or the
 * destinations file is invalid. Touches neither a secret nor storage.
 */
import { checkHealth } from '../shared/services';
import type { HttpFunction } from '../host/definitions';

export const health: HttpFunction = {
  kind: 'http',
  name: 'health',
  route: 'health',
  methods: ['GET'],
  authLevel: 'anonymous',
  handler: () => {
    const report = checkHealth();
    return { status: report.status === 'ok' ? 200 : 503, jsonBody: { ...report, time: new Date().toISOString() } };
  },
};
