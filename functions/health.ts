/** GET /api/health — liveness: answers without touching a secret or storage. */
import type { HttpFunction } from '../host/definitions';

export const health: HttpFunction = {
  kind: 'http',
  name: 'health',
  route: 'health',
  methods: ['GET'],
  authLevel: 'anonymous',
  handler: async () => ({ status: 200, jsonBody: { status: 'ok', time: new Date().toISOString() } }),
};
