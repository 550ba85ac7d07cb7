/**
 * POST /api/scan/{jobId}/redeliver — delivers a failed, poisoned or undeliverable job again
 * (administrators): every destination its rules select that is not delivered, or only
 * `{"destination": "<id>"}` (body) / `?destination=<id>`. Answers 202 with what was queued.
 */
import { redeliver as redeliverJob } from '../shared/delivery';
import { BadRequestError } from '../shared/errors';
import { getServices } from '../shared/services';
import type { HttpFunction } from '../host/definitions';
import { invocationLogger, readJson, withAdmin } from '../host/http';

export const redeliver: HttpFunction = {
  kind: 'http',
  name: 'redeliver',
  route: 'scan/{jobId}/redeliver',
  methods: ['POST'],
  authLevel: 'anonymous',
  handler: withAdmin(async (request, context) => {
    const body = (await readJson(request)) as { destination?: unknown } | null;
    const destination = request.query.get('destination') ?? body?.destination;
    if (destination !== undefined && (typeof destination !== 'string' || !destination)) {
      throw new BadRequestError('invalid_destination', '"destination" must be a destination id.');
    }
    const result = await redeliverJob(request.params.jobId ?? '', destination, getServices().redeliverDeps(invocationLogger(context)));
    return { status: 202, jsonBody: result };
  }),
};
