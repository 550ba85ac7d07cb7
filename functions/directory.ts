/**
 * GET /api/directory — the directory's status (administrators, read): counts of users and groups,
 * the last SCIM request and errors, the last directory sync runs (shared/directoryStatus).
 */
import { directoryOverview, directoryStatusDeps } from '../shared/directoryStatus';
import { getServices } from '../shared/services';
import type { HttpFunction } from '../host/definitions';
import { withAdmin } from '../host/http';

export const directory: HttpFunction = {
  kind: 'http',
  name: 'directory',
  route: 'directory',
  methods: ['GET'],
  authLevel: 'anonymous',
  handler: withAdmin(async () => {
    const { config, storage } = getServices();
    return { status: 200, jsonBody: await directoryOverview(directoryStatusDeps(config, storage)) };
  }),
};
