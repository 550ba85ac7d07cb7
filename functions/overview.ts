/**
 * GET /api/overview — what the console's Overview shows (administrators, read): `attention`
 * (what needs fixing first, each with where), and `jobs` (today's counts and latency, the failed
 * and poisoned jobs of the last 24 hours). See shared/overview.
 */
import { directoryStatusDeps } from '../shared/directoryStatus';
import { overview as readOverview } from '../shared/overview';
import { getServices } from '../shared/services';
import type { HttpFunction } from '../host/definitions';
import { invocationLogger, withAdmin } from '../host/http';

export const overview: HttpFunction = {
  kind: 'http',
  name: 'overview',
  route: 'overview',
  methods: ['GET'],
  authLevel: 'anonymous',
  handler: withAdmin(async (_request, context) => {
    const services = getServices();
    return {
      status: 200,
      jsonBody: await readOverview({
        oauth: services.oauthDeps(invocationLogger(context)),
        jobs: services.jobsDeps(),
        directory: directoryStatusDeps(services.config, services.storage),
        mailboxes: services.mailboxSourcesDeps(),
      }),
    };
  }),
};
