/**
 * GET /api/destinations/versions[?before=<version>&limit=<n>] — the stored versions, newest
 * first (who, when, what), without their documents: an administrator endpoint.
 */
import { listVersions } from '../shared/destinations';
import { ValidationError } from '../shared/errors';
import { getServices } from '../shared/services';
import type { HttpFunction } from '../host/definitions';
import { withAdmin } from '../host/http';

/** A whole number query parameter, or undefined when absent. */
function count(value: string | null, name: string): number | undefined {
  if (value === null || value === '') return undefined;
  if (!/^\d{1,10}$/.test(value))
    throw new ValidationError(`"${name}" must be a whole number.`, [{ path: name, message: 'must be a whole number.' }]);
  return Number(value);
}

export const destinationVersions: HttpFunction = {
  kind: 'http',
  name: 'destinationVersions',
  route: 'destinations/versions',
  methods: ['GET'],
  authLevel: 'anonymous',
  handler: withAdmin(async (request, _context, caller) => {
    const options = { before: count(request.query.get('before'), 'before'), limit: count(request.query.get('limit'), 'limit') };
    return { status: 200, jsonBody: await listVersions(getServices().destinations, caller.actor, options) };
  }),
};
