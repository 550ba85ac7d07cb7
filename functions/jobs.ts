/**
 * GET /api/jobs?from&to&status&workflowName&username&deviceName&scanJobID&continuation&limit —
 * stored jobs, newest first, paged (administrators). See shared/jobs.
 */
import { parseJobQuery, searchJobs } from '../shared/jobs';
import { getServices } from '../shared/services';
import type { HttpFunction } from '../host/definitions';
import { withAdmin } from '../host/http';

export const jobs: HttpFunction = {
  kind: 'http',
  name: 'jobs',
  route: 'jobs',
  methods: ['GET'],
  authLevel: 'anonymous',
  handler: withAdmin(async (request) => {
    const query = parseJobQuery((name) => request.query.get(name));
    return { status: 200, jsonBody: await searchJobs(getServices().jobsDeps(), query) };
  }),
};
