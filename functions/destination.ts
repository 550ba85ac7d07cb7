/**
 * GET /api/destinations/{id} (with its ETag), PUT (replace it) and DELETE: administrator
 * endpoints. PUT and DELETE need If-Match: the ETag it was read with (or `*`).
 */
import { deleteDestination, getDestination, parseIfMatch, replaceDestination } from '../shared/destinations';
import { getServices } from '../shared/services';
import type { HttpFunction } from '../host/definitions';
import { ADMIN_KEY_ACTOR, readJson, withErrors } from '../host/http';

export const destination: HttpFunction = {
  kind: 'http',
  name: 'destination',
  route: 'destinations/{id}',
  methods: ['GET', 'PUT', 'DELETE'],
  authLevel: 'admin',
  handler: withErrors(async (request) => {
    const source = getServices().destinations;
    const id = request.params.id ?? '';
    const ifMatch = parseIfMatch(request.headers.get('if-match'));
    if (request.method === 'DELETE') return { status: 200, jsonBody: await deleteDestination(source, ADMIN_KEY_ACTOR, id, ifMatch) };
    const result =
      request.method === 'PUT'
        ? await replaceDestination(source, ADMIN_KEY_ACTOR, id, await readJson(request), ifMatch)
        : await getDestination(source, ADMIN_KEY_ACTOR, id);
    return { status: 200, headers: { etag: result.destination.etag }, jsonBody: result };
  }),
};
