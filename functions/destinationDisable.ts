/** POST /api/destinations/{id}/disable — disables a destination (If-Match optional): an administrator endpoint. */
import { parseIfMatch, setDestinationEnabled } from '../shared/destinations';
import { getServices } from '../shared/services';
import type { HttpFunction } from '../host/definitions';
import { withAdmin } from '../host/http';

export const destinationDisable: HttpFunction = {
  kind: 'http',
  name: 'destinationDisable',
  route: 'destinations/{id}/disable',
  methods: ['POST'],
  authLevel: 'anonymous',
  handler: withAdmin(async (request, _context, caller) => {
    const ifMatch = parseIfMatch(request.headers.get('if-match'));
    const result = await setDestinationEnabled(getServices().destinations, caller.actor, request.params.id ?? '', false, ifMatch);
    return { status: 200, headers: { etag: result.destination.etag }, jsonBody: result };
  }),
};
