/** GET /api/destinations/versions/{version} — one stored version with its document (a destinations file): an administrator endpoint. */
import { getVersion } from '../shared/destinations';
import { getServices } from '../shared/services';
import type { HttpFunction } from '../host/definitions';
import { withAdmin } from '../host/http';

export const destinationVersion: HttpFunction = {
  kind: 'http',
  name: 'destinationVersion',
  route: 'destinations/versions/{version}',
  methods: ['GET'],
  authLevel: 'anonymous',
  handler: withAdmin(async (request, _context, caller) => {
    const version = Number(/^\d{1,10}$/.test(request.params.version ?? '') ? request.params.version : NaN);
    return { status: 200, jsonBody: await getVersion(getServices().destinations, caller.actor, version) };
  }),
};
