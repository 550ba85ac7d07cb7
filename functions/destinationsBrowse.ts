/**
 * GET /api/destinations/browse?type=sharePoint|oneDrive&connectionId=&site=&library=&folder= — a
 * SharePoint site's document libraries, or the folders of a library or OneDrive folder, as the
 * connection's account sees them, with the options that point a destination there. Reads only:
 * administrators and readers.
 */
import { browseTarget, readBrowseInput } from '../shared/destinations';
import { getServices } from '../shared/services';
import type { HttpFunction } from '../host/definitions';
import { invocationLogger, withAdmin } from '../host/http';

export const destinationsBrowse: HttpFunction = {
  kind: 'http',
  name: 'destinationsBrowse',
  route: 'destinations/browse',
  methods: ['GET'],
  authLevel: 'anonymous',
  handler: withAdmin(async (request, context, caller) => {
    const input = readBrowseInput((name) => request.query.get(name));
    return { status: 200, jsonBody: await browseTarget(getServices().browseDeps(invocationLogger(context)), caller.actor, input) };
  }),
};
