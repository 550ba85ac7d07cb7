/**
 * GET /api/destinations/{id} (with its ETag), PUT (replace it) and DELETE: administrator
 * endpoints. PUT and DELETE need If-Match: the ETag it was read with (or `*`).
 */
import { deleteDestination, getDestination, parseIfMatch, replaceDestination } from '../shared/destinations';
import { getServices } from '../shared/services';
import type { HttpFunction } from '../host/definitions';
import { readJson, withAdmin } from '../host/http';

export const destination: HttpFunction = {
  kind: 'http',
  name: 'destination',
  route: 'destinations/{id}',
  methods: ['GET', 'PUT', 'DELETE'],
  authLevel: 'anonymous',
  handler: withAdmin(async (request, _context, caller) => {
    const source = getServices().destinations;
    const id = request.params.id ?? '';
    const ifMatch = parseIfMatch(request.headers.get('if-match'));
    if (request.method === 'DELETE') return { status: 200, jsonBody: await deleteDestination(source, caller.actor, id, ifMatch) };
    const result =
      request.method === 'PUT'
        ? await replaceDestination(source, caller.actor, id, await readJson(request), ifMatch)
        : await getDestination(source, caller.actor, id);
    return { status: 200, headers: { etag: result.destination.etag }, jsonBody: result };
  }),
};
