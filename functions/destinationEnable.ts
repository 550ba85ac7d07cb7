/** POST /api/destinations/{id}/enable — enables a destination (If-Match optional): an administrator endpoint. */
import { parseIfMatch, setDestinationEnabled } from '../shared/destinations';
import { getServices } from '../shared/services';
import type { HttpFunction } from '../host/definitions';
import { withAdmin } from '../host/http';

export const destinationEnable: HttpFunction = {
  kind: 'http',
  name: 'destinationEnable',
  route: 'destinations/{id}/enable',
  methods: ['POST'],
  authLevel: 'anonymous',
  handler: withAdmin(async (request, _context, caller) => {
    const ifMatch = parseIfMatch(request.headers.get('if-match'));
    const result = await setDestinationEnabled(getServices().destinations, caller.actor, request.params.id ?? '', true, ifMatch);
    return { status: 200, headers: { etag: result.destination.etag }, jsonBody: result };
  }),
};
