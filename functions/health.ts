/**
 * GET /api/health — 200 when the app can work; 503 naming what to fix when a setting, the
 * destinations file or the stored destinations cannot be used (shared/services checkHealth).
 */
import { checkHealth } from '../shared/services';
import type { HttpFunction } from '../host/definitions';
import { invocationLogger } from '../host/http';

export const health: HttpFunction = {
  kind: 'http',
  name: 'health',
  route: 'health',
  methods: ['GET'],
  authLevel: 'anonymous',
  handler: async (_request, context) => {
    const report = await checkHealth(invocationLogger(context));
    return { status: report.status === 'ok' ? 200 : 503, jsonBody: { ...report, time: new Date().toISOString() } };
  },
};
