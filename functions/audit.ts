/** GET /api/audit?from=&to=&q=&limit= — the audit log, newest first (administrators, read). */
import { findAudit } from '../shared/audit';
import { BadRequestError } from '../shared/errors';
import { getServices } from '../shared/services';
import type { HttpFunction } from '../host/definitions';
import { withAdmin } from '../host/http';

function dateParam(value: string | null, name: string, fallback: Date): Date {
  if (value === null || value === '') return fallback;
  const d = new Date(value);
  if (Number.isNaN(d.getTime()))
    throw new BadRequestError('invalid_query', `"${name}" must be a date (ISO 8601, e.g. 2026-12-01T00:00:00Z).`);
  return d;
}

export const audit: HttpFunction = {
  kind: 'http',
  name: 'audit',
  route: 'audit',
  methods: ['GET'],
  authLevel: 'anonymous',
  handler: withAdmin(async (request) => {
    const q = request.query;
    const to = dateParam(q.get('to'), 'to', new Date());
    const from = dateParam(q.get('from'), 'from', new Date(to.getTime() - 7 * 86_400_000));
    const limit = q.get('limit') === null ? undefined : Number(q.get('limit'));
    if (limit !== undefined && (!Number.isInteger(limit) || limit < 1 || limit > 1000)) {
      throw new BadRequestError('invalid_query', '"limit" must be a whole number from 1 to 1000.');
    }
    const text = (q.get('q') ?? '').slice(0, 200);
    const entries = await findAudit(getServices().storage, { from, to, text, limit });
    return { status: 200, jsonBody: { from: from.toISOString(), to: to.toISOString(), entries } };
  }),
};
