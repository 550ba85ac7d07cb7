/**
 * Directory sync: the pull alternative to SCIM provisioning. A timer reads Entra ID through
 * Microsoft Graph with application permissions (User.Read.All, GroupMember.Read.All) and writes the
 * same directory store SCIM writes (shared/storage/directory.ts), with `source: 'sync'`, matching
 * its rows by externalId = Entra object id. One run: the users in scope and their changes
 * (users.ts), then the prefixed groups and their members (groups.ts), each a delta round of its
 * own (delta.ts) read through reader.ts.
 *
 * An expired delta token (400 syncStateNotFound, 410 resyncRequired) drops the link and runs a
 * full round, which also removes what the store has and Entra no longer does. Throttling: the
 * Graph client waits out Retry-After up to 60 s; a longer wait ends the run early (status
 * 'interrupted'), and the next run resumes from the links stored so far. Each run is recorded for
 * the console's Directory page (record.ts).
 */
import type { Config } from '../config';
import type { Logger } from '../log';
import type { Storage } from '../storage';
import { SyncInterruptedError } from './errors';
import { syncGroups } from './groups';
import { directoryGraphClient } from './reader';
import { failureOf, startRecording } from './record';
import { newRun, type DirectorySyncCounts, type DirectorySyncDeps } from './run';
import { syncUsers } from './users';

export { DirectorySyncError, SyncInterruptedError, type SyncErrorCode } from './errors';
export { GROUPS_DELTA, groupsStateName } from './groups';
export { directoryGraphClient, REQUIRED_PERMISSIONS } from './reader';
export type { DirectorySyncCounts, DirectorySyncDeps } from './run';
export { USERS_DELTA, USERS_STATE } from './users';

export type DirectorySyncResult =
  | { status: 'skipped'; reason: string }
  | ({ status: 'completed' } & DirectorySyncCounts)
  /** Graph throttled (or was unavailable) longer than a run waits: the next run resumes. */
  | ({ status: 'interrupted'; reason: string; retryAfterSeconds?: number } & DirectorySyncCounts);

/**
 * The sync's dependencies from the app's wiring (shared/services): the directory store, the
 * delta links, and a Graph client on GRAPH_BASE_URL with the app's own (client-credentials) tokens.
 */
export function createDirectorySyncDeps(parts: {
  config: Config;
  storage: Pick<Storage, 'directory' | 'deltaLinks' | 'directoryActivity'>;
  applicationTokens: { get(resource: string, forceRefresh?: boolean): Promise<string> };
  log: Logger;
}): DirectorySyncDeps {
  const { directory } = parts.storage;
  return {
    config: parts.config.directory,
    graph: directoryGraphClient(parts.config.delivery.graphBaseUrl, (resource, force) => parts.applicationTokens.get(resource, force)),
    users: directory.users,
    groups: directory.groups,
    members: directory.members,
    deltaLinks: parts.storage.deltaLinks,
    runs: parts.storage.directoryActivity,
    log: parts.log,
  };
}

export async function runDirectorySync(deps: DirectorySyncDeps): Promise<DirectorySyncResult> {
  if (deps.config.source !== 'sync') {
    return {
      status: 'skipped',
      reason: `DIRECTORY_SOURCE is '${deps.config.source}': users and groups come from SCIM provisioning, the sync does not run.`,
    };
  }
  const run = newRun(deps);
  const record = await startRecording(deps.runs, deps.log);
  try {
    await syncUsers(run);
    await syncGroups(run);
    await record.finish({ status: 'completed', counts: run.counts });
    return { status: 'completed', ...run.counts };
  } catch (err) {
    if (!(err instanceof SyncInterruptedError)) {
      await record.finish({ status: 'failed', counts: run.counts, error: failureOf(err) });
      throw err;
    }
    deps.log.warn('directorySync: stopped early, the next run resumes', { reason: err.message, retryAfterSeconds: err.retryAfterSeconds });
    await record.finish({ status: 'interrupted', counts: run.counts, reason: err.message, retryAfterSeconds: err.retryAfterSeconds });
    return { status: 'interrupted', reason: err.message, retryAfterSeconds: err.retryAfterSeconds, ...run.counts };
  }
}
