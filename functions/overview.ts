/**
 * GET /api/overview — the numbers of the console's Overview (administrators): `jobs`, today's
 * jobs and latency and what needs attention in the last 24 hours. See shared/jobs.
 */
import { jobsOverview } from '../shared/jobs';
import { getServices } from '../shared/services';
import type { HttpFunction } from '../host/definitions';
import { withAdmin } from '../host/http';

export const overview: HttpFunction = {
  kind: 'http',
  name: 'overview',
  route: 'overview',
  methods: ['GET'],
  authLevel: 'anonymous',
  handler: withAdmin(async () => ({ status: 200, jsonBody: { jobs: await jobsOverview(getServices().jobsDeps()) } })),
};
