/**
 * POST /api/destinations/versions/{version}/restore — makes an old version current again, as a
 * new version (If-Match optional: the set's ETag): an administrator endpoint.
 */
import { parseIfMatch, restoreVersion } from '../shared/destinations';
import { getServices } from '../shared/services';
import type { HttpFunction } from '../host/definitions';
import { withAdmin } from '../host/http';

export const destinationRestore: HttpFunction = {
  kind: 'http',
  name: 'destinationRestore',
  route: 'destinations/versions/{version}/restore',
  methods: ['POST'],
  authLevel: 'anonymous',
  handler: withAdmin(async (request, _context, caller) => {
    const version = Number(/^\d{1,10}$/.test(request.params.version ?? '') ? request.params.version : NaN);
    const ifMatch = parseIfMatch(request.headers.get('if-match'));
    const result = await restoreVersion(getServices().destinations, caller.actor, version, ifMatch);
    return { status: 200, headers: { etag: result.etag }, jsonBody: result };
  }),
};
