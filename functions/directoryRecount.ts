/**
 * POST /api/directory/recount — counts every user and group again and sets the kept counts from
 * it (administrators, write; audited as directory.recount). 409 directory_busy while the directory
 * keeps changing.
 */
import { directoryStatusDeps, recountDirectory } from '../shared/directoryStatus';
import { getServices } from '../shared/services';
import type { HttpFunction } from '../host/definitions';
import { withAdmin } from '../host/http';

export const directoryRecount: HttpFunction = {
  kind: 'http',
  name: 'directoryRecount',
  route: 'directory/recount',
  methods: ['POST'],
  authLevel: 'anonymous',
  handler: withAdmin(async (_request, _context, caller) => {
    const { config, storage } = getServices();
    return { status: 200, jsonBody: { counts: await recountDirectory(directoryStatusDeps(config, storage), caller.actor) } };
  }),
};
