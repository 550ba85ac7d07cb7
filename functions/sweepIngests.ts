/**
 * Timer: removes what requests to /api/scan that died (a crash, a restart, a lost instance)
 * left behind: their blobs, pending records and scanJobID claims (see shared/ingest/sweeper.ts).
 */
import { sweepIngests as sweep } from '../shared/ingest';
import { getServices } from '../shared/services';
import type { TimerFunction } from '../host/definitions';
import { invocationLogger } from '../host/http';

export const sweepIngests: TimerFunction = {
  kind: 'timer',
  name: 'sweepIngests',
  // An app-setting expression: INGEST_SWEEP_SCHEDULE (default every 5 minutes; see README).
  schedule: '%INGEST_SWEEP_SCHEDULE%',
  handler: async (_timer, context) => {
    await sweep(getServices().sweepDeps(invocationLogger(context)));
  },
};
