/**
 * GET /api/destinations (the destinations in force, each with its ETag; the set's ETag is its
 * version) and POST /api/destinations (create one; 201): administrator endpoints.
 */
import { createDestination, listDestinations } from '../shared/destinations';
import { getServices } from '../shared/services';
import type { HttpFunction } from '../host/definitions';
import { readJson, withAdmin } from '../host/http';

export const destinations: HttpFunction = {
  kind: 'http',
  name: 'destinations',
  route: 'destinations',
  methods: ['GET', 'POST'],
  authLevel: 'anonymous',
  handler: withAdmin(async (request, _context, caller) => {
    const source = getServices().destinations;
    if (request.method === 'POST') {
      const created = await createDestination(source, caller.actor, await readJson(request));
      return {
        status: 201,
        headers: { etag: created.destination.etag, location: `/api/destinations/${created.destination.id}` },
        jsonBody: created,
      };
    }
    const list = await listDestinations(source, caller.actor);
    const headers: Record<string, string> = list.etag ? { etag: list.etag } : {};
    return { status: 200, headers, jsonBody: list };
  }),
};
