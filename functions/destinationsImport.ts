/**
 * POST /api/destinations/import — imports a destinations document as the next version: the JSON
 * body (the file's format, at most 1 MiB), or without a body the deployed DESTINATIONS_FILE.
 * If-Match optional (the set's ETag). An administrator endpoint.
 */
import { importDestinations, parseIfMatch } from '../shared/destinations';
import { getServices } from '../shared/services';
import type { HttpFunction } from '../host/definitions';
import { readOptionalJson, withAdmin } from '../host/http';

export const destinationsImport: HttpFunction = {
  kind: 'http',
  name: 'destinationsImport',
  route: 'destinations/import',
  methods: ['POST'],
  authLevel: 'anonymous',
  handler: withAdmin(async (request, _context, caller) => {
    const body = await readOptionalJson(request, 1024 * 1024);
    const ifMatch = parseIfMatch(request.headers.get('if-match'));
    const result = await importDestinations(getServices().destinations, caller.actor, body, ifMatch);
    return { status: 200, headers: { etag: result.etag }, jsonBody: result };
  }),
};
