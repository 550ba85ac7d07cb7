/**
 * GET /api/destinations/{id} (with its ETag), PUT (replace it) and DELETE: administrator
 * endpoints. PUT and DELETE need If-Match: the ETag it was read with (or `*`).
 */
import { deleteDestination, getDestination, parseIfMatch, replaceDestination } from '../shared/destinations';
import { getServices } from '../shared/services';
import type { HttpFunction } from '../host/definitions';
import { readJson, withAdmin } from '../host/http';
import { destinationsBrowse } from './destinationsBrowse';
import { destinationVersions } from './destinationVersions';

/**
 * The Functions host does not prefer a literal segment to a parameter: it tries routes in the
 * order of their functions' names (Azure/azure-functions-host#9876,
 * Azure/azure-functions-nodejs-library#300), so GET destinations/versions and
 * destinations/browse may arrive here. Those words are not destination ids (they are reserved):
 * they are handed to their functions.
 */
const LITERAL_GETS: Record<string, HttpFunction> = { versions: destinationVersions, browse: destinationsBrowse };

export const destination: HttpFunction = {
  kind: 'http',
  name: 'destination',
  route: 'destinations/{id}',
  methods: ['GET', 'PUT', 'DELETE'],
  authLevel: 'anonymous',
  handler: async (request, context) => {
    const literal = request.method === 'GET' ? LITERAL_GETS[request.params.id ?? ''] : undefined;
    return (literal?.handler ?? byId)(request, context);
  },
};

const byId = withAdmin(async (request, _context, caller) => {
  const source = getServices().destinations;
  const id = request.params.id ?? '';
  const ifMatch = parseIfMatch(request.headers.get('if-match'));
  if (request.method === 'DELETE') return { status: 200, jsonBody: await deleteDestination(source, caller.actor, id, ifMatch) };
  const result =
    request.method === 'PUT'
      ? await replaceDestination(source, caller.actor, id, await readJson(request), ifMatch)
      : await getDestination(source, caller.actor, id);
  return { status: 200, headers: { etag: result.destination.etag }, jsonBody: result };
});
