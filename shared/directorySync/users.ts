/**
 * The users step of a sync run:
 *
 * 1. Scope: the transitive user members of DIRECTORY_SYNC_GROUP_ID, read in full every run
 *    (`/groups/{id}/transitiveMembers/microsoft.graph.user`, group-list-transitivemembers): Graph has
 *    no delta for transitive membership, and reading ids only is cheap (999 per page).
 * 2. A delta round of `/users/delta` (user-delta, delta-query-users): the first round reads every
 *    user of the tenant, later rounds only what changed since the stored deltaLink. Users in scope
 *    are created or updated; users out of scope, disabled, or `@removed` (deleted) are kept and
 *    made inactive, never deleted. Users newly in scope that the round did not return (they did not
 *    change in Entra, they were only added to the group), and inactive ones in scope whose
 *    accountEnabled the round did not say, are read one by one (`/users/{id}`).
 *
 * Writes of existing rows are ETag-guarded replaces, re-read on conflict, and skipped when nothing
 * changed.
 */
import { forEachLimited } from '../concurrency';
import { ConfigError } from '../errors';
import { CONFLICT, DirectoryConflictError, retryOnConflict, type StoredUser } from '../storage';
import { deltaRound, saveLink } from './delta';
import { DirectorySyncError, GraphNotFoundError } from './errors';
import { isComplete, sameResource, USER_SELECT, userResource, type GraphUser } from './mapping';
import { PAGE, type SyncRun } from './run';

export const USERS_DELTA = `/users/delta?$select=${USER_SELECT.join(',')}`;

/** The delta link row of the users round. */
export const USERS_STATE = 'users';

export async function syncUsers(run: SyncRun): Promise<void> {
  const { deps, counts, limit } = run;
  const groupId = deps.config.sync.groupId;
  if (!groupId) throw new ConfigError('DIRECTORY_SYNC_GROUP_ID', "is required when DIRECTORY_SOURCE is 'sync'.");
  try {
    run.scope = new Set(
      await run.reader.ids(`/groups/${encodeURIComponent(groupId)}/transitiveMembers/microsoft.graph.user?$select=id&${PAGE}`),
    );
  } catch (err) {
    if (err instanceof GraphNotFoundError) {
      throw new DirectorySyncError(
        'group_not_found',
        `The group DIRECTORY_SYNC_GROUP_ID (${groupId}) does not exist in the tenant: give the object ID of an existing group.`,
      );
    }
    throw err;
  }
  counts.inScope = run.scope.size;
  for await (const u of deps.users.list({ source: 'sync' })) if (u.externalId) run.users.set(u.externalId.toLowerCase(), u);

  /** Users whose active state this round decided (the others in scope may need a read). */
  let decided = new Set<string>();
  const round = await deltaRound<GraphUser>(run, USERS_STATE, USERS_DELTA, {
    start: (full) => {
      counts.fullRound.users = full;
      decided = new Set();
    },
    page: (items) => forEachLimited(items, limit, (u) => applyUser(run, u, decided)),
  });

  // In scope, but not (or not fully) told about by the round: read them.
  const unknown = [...run.scope].filter((id) => !decided.has(id) && !run.users.get(id)?.active);
  await forEachLimited(unknown, limit, async (id) => {
    const u = await fetchUser(run, id);
    if (!u) return;
    const existing = run.users.get(id);
    const active = u.accountEnabled !== false;
    if (existing) await updateUser(run, existing, (r) => userResource(r, u, active));
    else await createUser(run, u, active);
  });

  // Out of scope (removed from the group, or deleted meanwhile): inactive, kept.
  const leaving = [...run.users.values()].filter((u) => u.active && !run.scope.has(u.externalId!.toLowerCase()));
  await forEachLimited(leaving, limit, (u) => updateUser(run, u, (r) => ({ ...r, active: false })));

  await saveLink(run, USERS_STATE, round);
}

async function applyUser(run: SyncRun, u: GraphUser, decided: Set<string>): Promise<void> {
  const id = u.id.toLowerCase();
  const existing = run.users.get(id);
  if (u['@removed']) {
    // Deleted in Entra ('changed': soft-deleted, restorable for 30 days; 'deleted': for good).
    decided.add(id);
    if (existing?.active) await updateUser(run, existing, (r) => ({ ...r, active: false }));
    return;
  }
  const inScope = run.scope.has(id);
  if (!existing) {
    if (!inScope) return; // someone else in the tenant: not ours
    const full = isComplete(u) ? u : await fetchUser(run, id);
    if (!full) return;
    decided.add(id);
    await createUser(run, full, full.accountEnabled !== false);
    return;
  }
  // A later round lists changed properties only: without accountEnabled, "enabled" is unchanged.
  let active: boolean | undefined;
  if (typeof u.accountEnabled === 'boolean') active = inScope && u.accountEnabled;
  else if (!inScope) active = false;
  else if (existing.active) active = true;
  if (active !== undefined) decided.add(id);
  await updateUser(run, existing, (r) => userResource(r, u, active ?? false));
}

async function fetchUser(run: SyncRun, id: string): Promise<GraphUser | undefined> {
  run.counts.users.fetched++;
  try {
    return await run.reader.get<GraphUser>(`/users/${encodeURIComponent(id)}?$select=${USER_SELECT.join(',')}`);
  } catch (err) {
    if (err instanceof GraphNotFoundError) return undefined; // deleted since the scope was read
    throw err;
  }
}

async function createUser(run: SyncRun, u: GraphUser, active: boolean): Promise<void> {
  const { deps } = run;
  const id = u.id.toLowerCase();
  const resource = userResource(undefined, u, active);
  const created = (user: StoredUser) => {
    run.users.set(id, user);
    run.newUsers.add(id);
    run.counts.users.created++;
  };
  try {
    created(await deps.users.create(resource, 'sync'));
  } catch (err) {
    if (!(err instanceof DirectoryConflictError)) throw err;
    const holder = await deps.users.findByUserName(String(resource.userName));
    if (holder && holder.source === 'sync' && holder.externalId?.toLowerCase() === id) {
      // The same Entra user, stored meanwhile (it appeared twice): update it instead.
      run.users.set(id, holder);
      await updateUser(run, holder, (r) => userResource(r, u, active));
      return;
    }
    if (!(await releaseUserName(run, holder, String(resource.userName)))) return conflict(run, id, holder);
    try {
      created(await deps.users.create(resource, 'sync'));
    } catch (again) {
      if (!(again instanceof DirectoryConflictError)) throw again;
      conflict(run, id, await deps.users.findByUserName(String(resource.userName)));
    }
  }
}

/**
 * Gives up the userName of a stored sync user whose Entra account no longer has it: a deleted
 * account (its @removed made the row inactive, and nothing updates it any more) or one renamed
 * since. Without this, a new account with a reused UPN (a rehire, a recycled address) could never
 * be stored. The old row stays, inactive: with the account's current data when it still exists,
 * else under `<object id>@removed.invalid` (RFC 2606 reserves .invalid). True when released.
 */
async function releaseUserName(run: SyncRun, holder: StoredUser | undefined, userName: string): Promise<boolean> {
  if (!holder || holder.source !== 'sync' || holder.active || !holder.externalId) return false;
  const entra = await fetchUser(run, holder.externalId);
  if (entra?.userPrincipalName?.toLowerCase() === userName.toLowerCase()) return false; // still that account's name
  const before = run.counts.users.conflicts;
  await updateUser(run, holder, (r) =>
    entra ? userResource(r, entra, false) : { ...r, userName: `${holder.externalId}@removed.invalid` },
  );
  if (run.counts.users.conflicts !== before) return false;
  run.deps.log.info('directorySync: the userName of a deleted or renamed Entra account was released for another account', {
    storedUserId: holder.id,
    objectId: holder.externalId,
  });
  return true;
}

const GONE = Symbol('gone');

/** An ETag-guarded replace of `current` with `build(its resource)`, re-read and rebuilt on conflict. */
async function updateUser(
  run: SyncRun,
  current: StoredUser,
  build: (resource: Record<string, unknown>) => Record<string, unknown>,
): Promise<void> {
  const { deps, counts } = run;
  const key = current.externalId!.toLowerCase();
  let cur = current;
  let released = false;
  /** After a lost write: the row as it is now, to build on again. */
  const reread = async () => {
    const fresh = await deps.users.get(cur.id);
    if (!fresh) return GONE;
    cur = fresh;
    return CONFLICT;
  };
  const outcome = await retryOnConflict(async () => {
    const next = build(cur.resource);
    if (sameResource(next, cur.resource)) {
      counts.users.unchanged++;
      return undefined;
    }
    let written: StoredUser | undefined;
    try {
      written = await deps.users.replace(cur, next);
    } catch (err) {
      if (!(err instanceof DirectoryConflictError)) throw err;
      // Renamed in Entra to a userName another stored user has.
      const holder = await deps.users.findByUserName(String(next.userName));
      if (released || !(await releaseUserName(run, holder, String(next.userName)))) return conflict(run, key, holder);
      released = true;
      return reread();
    }
    if (!written) return reread();
    run.users.set(key, written);
    if (cur.active && !written.active) counts.users.deactivated++;
    else counts.users.updated++;
    return undefined;
  });
  if (outcome === CONFLICT) throw new Error(`The stored user ${current.id} kept changing during the sync; it is updated on the next run.`);
  if (outcome === GONE) run.users.delete(key); // deleted from the store meanwhile: nothing to update
}

function conflict(run: SyncRun, objectId: string, holder: StoredUser | undefined): undefined {
  run.counts.users.conflicts++;
  // Ids only: the userName is personal data and stays out of the log.
  run.deps.log.warn('directorySync: the userName of an Entra user belongs to another stored user; that user is skipped', {
    objectId,
    storedUserId: holder?.id,
    storedSource: holder?.source,
  });
  return undefined;
}
