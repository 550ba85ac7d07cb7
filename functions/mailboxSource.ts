/**
 * GET /api/mailboxes/{id} (a mailbox source with its status, its latest messages and its ETag),
 * PUT (replace its options) and DELETE (204): administrator endpoints. PUT and DELETE need
 * If-Match: the ETag it was read with (or `*`).
 */
import { deleteSource, getSource, replaceSource } from '../shared/mailbox';
import { getServices } from '../shared/services';
import type { HttpFunction } from '../host/definitions';
import { readJson, withAdmin } from '../host/http';

export const mailboxSource: HttpFunction = {
  kind: 'http',
  name: 'mailboxSource',
  route: 'mailboxes/{id}',
  methods: ['GET', 'PUT', 'DELETE'],
  authLevel: 'anonymous',
  handler: withAdmin(async (request, _context, caller) => {
    const deps = getServices().mailboxSourcesDeps();
    const id = request.params.id ?? '';
    const ifMatch = request.headers.get('if-match') ?? undefined;
    if (request.method === 'DELETE') {
      await deleteSource(deps, caller.actor, id, ifMatch);
      return { status: 204 };
    }
    const source =
      request.method === 'PUT' ? await replaceSource(deps, caller.actor, id, await readJson(request), ifMatch) : await getSource(deps, id);
    return { status: 200, headers: { etag: source.etag }, jsonBody: source };
  }),
};
