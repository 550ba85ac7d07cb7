/**
 * GET /api/mailboxes (the mailbox sources, each with its status and ETag) and POST /api/mailboxes
 * (create one from `{ id, ...options }`; 201 with its ETag): administrator endpoints.
 */
import { createSource, listSources } from '../shared/mailbox';
import { getServices } from '../shared/services';
import type { HttpFunction } from '../host/definitions';
import { readJson, withAdmin } from '../host/http';

export const mailboxSources: HttpFunction = {
  kind: 'http',
  name: 'mailboxSources',
  route: 'mailboxes',
  methods: ['GET', 'POST'],
  authLevel: 'anonymous',
  handler: withAdmin(async (request, _context, caller) => {
    const deps = getServices().mailboxSourcesDeps();
    if (request.method === 'POST') {
      const created = await createSource(deps, caller.actor, await readJson(request));
      return { status: 201, headers: { etag: created.etag, location: `/api/mailboxes/${created.id}` }, jsonBody: created };
    }
    return { status: 200, jsonBody: { sources: await listSources(deps) } };
  }),
};
