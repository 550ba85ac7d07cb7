/** GET /api/scan/{jobId} — a job's fields, files and per-destination outcome (administrators). */
import { jobStatus } from '../shared/delivery';
import { getServices } from '../shared/services';
import type { HttpFunction } from '../host/definitions';
import { withAdmin } from '../host/http';

export const scanStatus: HttpFunction = {
  kind: 'http',
  name: 'scanStatus',
  route: 'scan/{jobId}',
  methods: ['GET'],
  authLevel: 'anonymous',
  handler: withAdmin(async (request) => {
    const { storage } = getServices();
    return { status: 200, jsonBody: await jobStatus(storage.scanJobs, storage.deliveries, request.params.jobId ?? '') };
  }),
};
