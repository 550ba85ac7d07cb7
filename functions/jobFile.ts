/**
 * GET /api/jobs/{jobId}/files/{index} — one of a job's files, streamed from Blob Storage as an
 * attachment (administrators). Never buffered, never a SAS.
 */
import { openJobFile } from '../shared/jobs';
import { getServices } from '../shared/services';
import type { HttpFunction } from '../host/definitions';
import { withAdmin } from '../host/http';

export const jobFile: HttpFunction = {
  kind: 'http',
  name: 'jobFile',
  route: 'jobs/{jobId}/files/{index}',
  methods: ['GET'],
  authLevel: 'anonymous',
  handler: withAdmin(async (request) => {
    const file = await openJobFile(getServices().jobsDeps(), request.params.jobId ?? '', request.params.index ?? '');
    return { status: 200, headers: file.headers, body: file.stream };
  }),
};
