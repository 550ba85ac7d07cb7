import type { Logger } from '../log';
import type { ScanJob } from '../storage';
import { route, type Destination, type DestinationSet } from './destinations';
import { withDirectoryFacts, type FindUser } from './userFacts';

/** The destinations a job goes to: its fields, with the directory's facts filled in, and its rules. */
export async function targetsOf(
  job: ScanJob,
  set: DestinationSet,
  deps: { findUser?: FindUser; log: Logger },
): Promise<{ fields: Record<string, string>; targets: Destination[] }> {
  const fields = await withDirectoryFacts(job.fields, deps.findUser, deps.log);
  return { fields, targets: route(fields, set.destinations) };
}
