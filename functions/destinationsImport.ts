/**
 * POST /api/destinations/import — imports a destinations document as the next version: the JSON
 * body (the file's format, at most 1 MiB), or without a body the deployed DESTINATIONS_FILE.
 * If-Match optional (the set's ETag). An administrator endpoint.
 */
import { importDestinations, parseIfMatch } from '../shared/destinations';
import { getServices } from '../shared/services';
import type { HttpFunction } from '../host/definitions';
import { ADMIN_KEY_ACTOR, readOptionalJson, withErrors } from '../host/http';

export const destinationsImport: HttpFunction = {
  kind: 'http',
  name: 'destinationsImport',
  route: 'destinations/import',
  methods: ['POST'],
  authLevel: 'admin',
  handler: withErrors(async (request) => {
    const body = await readOptionalJson(request, 1024 * 1024);
    const ifMatch = parseIfMatch(request.headers.get('if-match'));
    const result = await importDestinations(getServices().destinations, ADMIN_KEY_ACTOR, body, ifMatch);
    return { status: 200, headers: { etag: result.etag }, jsonBody: result };
  }),
};
