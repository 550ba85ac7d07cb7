/** GET /api/jobs/{jobId} — a job's fields, files and per destination the timeline of its attempts (administrators). */
import { jobDetail } from '../shared/jobs';
import { getServices } from '../shared/services';
import type { HttpFunction } from '../host/definitions';
import { withAdmin } from '../host/http';

export const job: HttpFunction = {
  kind: 'http',
  name: 'job',
  route: 'jobs/{jobId}',
  methods: ['GET'],
  authLevel: 'anonymous',
  handler: withAdmin(async (request) => ({
    status: 200,
    jsonBody: await jobDetail(getServices().jobsDeps(), request.params.jobId ?? ''),
  })),
};
