/**
 * GET /api/directory/users?find=<userName, externalId or id> — the users a value names, with the
 * fields delivery fills from each (administrators, read; shared/directoryStatus findDirectoryUser).
 */
import { directoryStatusDeps, findDirectoryUser } from '../shared/directoryStatus';
import { getServices } from '../shared/services';
import type { HttpFunction } from '../host/definitions';
import { withAdmin } from '../host/http';

export const directoryUsers: HttpFunction = {
  kind: 'http',
  name: 'directoryUsers',
  route: 'directory/users',
  methods: ['GET'],
  authLevel: 'anonymous',
  handler: withAdmin(async (request) => {
    const { config, storage } = getServices();
    return { status: 200, jsonBody: await findDirectoryUser(directoryStatusDeps(config, storage), request.query.get('find')) };
  }),
};
