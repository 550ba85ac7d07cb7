/**
 * Directory sync: the pull alternative to SCIM provisioning. A timer reads Entra ID through
 * Microsoft Graph with application permissions (User.Read.All, GroupMember.Read.All) and writes the
 * same directory store SCIM writes, with `source: 'sync'`, matching its rows by externalId = Entra
 * object id. One run:
 *
 * 1. Scope: the transitive user members of DIRECTORY_SYNC_GROUP_ID, read in full every run
 *    (`/groups/{id}/transitiveMembers/microsoft.graph.user`, group-list-transitivemembers): Graph has
 *    no delta for transitive membership, and reading ids only is cheap (999 per page).
 * 2. Users: a delta round of `/users/delta` (user-delta, delta-query-users): the first round reads
 *    every user of the tenant, later rounds only what changed since the stored deltaLink. Users in
 *    scope are created or updated; users out of scope, disabled, or `@removed` (deleted) are kept
 *    and made inactive, never deleted. Users newly in scope that the round did not return (they
 *    did not change in Entra, they were only added to the group), and inactive ones in scope whose
 *    accountEnabled the round did not say, are read one by one (`/users/{id}`).
 * 3. Groups, when DIRECTORY_SYNC_GROUP_PREFIX is set (without it, groups synced earlier are
 *    deleted: nothing would keep them up to date): a delta round of `/groups/delta` with
 *    `members` (group-delta, delta-query-groups). Groups whose name starts with the prefix
 *    (case-insensitively) are stored; `members@delta` adds and removes membership rows for members
 *    the store has (synced users and synced groups). A group deleted or renamed out of the prefix
 *    is deleted from the store with its memberships. A group that enters the prefix in a later
 *    round, and a user stored for the first time, get their existing memberships read
 *    (`/groups/{id}/members`, `/…/memberOf`), since the delta reports only changes.
 *
 * A deltaLink is stored only after its round was applied completely: a run that stops midway
 * (throttling, a crash) is resumed by the next one from the previous link, and applying a change
 * twice is harmless. An expired delta token (400 syncStateNotFound, 410 resyncRequired) drops the
 * link and runs a full round, which also removes what the store has and Entra no longer does.
 * Throttling: the Graph client waits out Retry-After up to 60 s; a longer wait ends the run early
 * (status 'interrupted'). Writes of existing rows are ETag-guarded replaces, re-read on conflict,
 * and skipped when nothing changed.
 */
import { createHash } from 'node:crypto';
import { forEachLimited } from '../concurrency';
import type { Config, DirectoryConfig } from '../config';
import { ConfigError } from '../errors';
import type { GraphClient } from '../graph';
import type { Logger } from '../log';
import {
  DirectoryConflictError,
  type DirectoryGroups,
  type DirectoryMembers,
  type DirectoryUsers,
  type MemberType,
  type StoredGroup,
  type StoredUser,
} from '../storage/directory';
import type { DeltaLink, DeltaLinkRepository } from '../storage/deltaLinks';
import type { Storage } from '../storage';
import {
  DeltaExpiredError,
  DirectoryGraph,
  directoryGraphClient,
  DirectorySyncError,
  GraphNotFoundError,
  SyncInterruptedError,
} from './graph';
import {
  groupResource,
  isComplete,
  sameResource,
  USER_SELECT,
  userResource,
  type GraphGroup,
  type GraphMemberRef,
  type GraphUser,
} from './mapping';

export { DirectorySyncError, SyncInterruptedError, directoryGraphClient, REQUIRED_PERMISSIONS } from './graph';

export interface DirectorySyncDeps {
  config: DirectoryConfig;
  graph: GraphClient;
  users: Pick<DirectoryUsers, 'create' | 'get' | 'replace' | 'list' | 'findByUserName'>;
  groups: Pick<DirectoryGroups, 'create' | 'get' | 'replace' | 'delete' | 'list'>;
  members: Pick<DirectoryMembers, 'add' | 'remove' | 'list' | 'removeAllOf' | 'removeMember'>;
  state: Pick<DeltaLinkRepository, 'get' | 'save' | 'remove' | 'list'>;
  log: Logger;
  /** Store writes in flight (default 8). */
  concurrency?: number;
}

export interface DirectorySyncCounts {
  /** Users in the configured group (transitively). */
  inScope: number;
  users: { created: number; updated: number; deactivated: number; unchanged: number; fetched: number; conflicts: number };
  groups: { created: number; updated: number; deleted: number };
  members: { added: number; removed: number };
  /** Which rounds read everything (first run, expired token) rather than changes. */
  fullRound: { users: boolean; groups: boolean };
}

export type DirectorySyncResult =
  | { status: 'skipped'; reason: string }
  | ({ status: 'completed' } & DirectorySyncCounts)
  /** Graph throttled (or was unavailable) longer than a run waits: the next run resumes. */
  | ({ status: 'interrupted'; reason: string; retryAfterSeconds?: number } & DirectorySyncCounts);

export const USERS_DELTA = `/users/delta?$select=${USER_SELECT.join(',')}`;
export const GROUPS_DELTA = '/groups/delta?$select=id,displayName,members';
const PAGE = '$top=999';

/** The state row of the users round. */
export const USERS_STATE = 'users';
/** The state row of the groups round: one per prefix, so a new prefix starts with a full round. */
const GROUPS_STATE_PREFIX = 'groups-';
export function groupsStateName(prefix: string): string {
  return `${GROUPS_STATE_PREFIX}${createHash('sha256').update(prefix.toLowerCase()).digest('hex').slice(0, 16)}`;
}

/**
 * The sync's dependencies from the app's wiring: the directory store, the delta-link table, and a
 * Graph client on GRAPH_BASE_URL with the app's own (client-credentials) tokens.
 */
export function createDirectorySyncDeps(parts: {
  config: Config;
  storage: Pick<Storage, 'directory' | 'deltaLinks'>;
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
    state: parts.storage.deltaLinks,
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
  const run = new SyncRun(deps);
  try {
    await run.syncUsers();
    await run.syncGroups();
    return { status: 'completed', ...run.counts };
  } catch (err) {
    if (!(err instanceof SyncInterruptedError)) throw err;
    deps.log.warn('directorySync: stopped early, the next run resumes', { reason: err.message, retryAfterSeconds: err.retryAfterSeconds });
    return { status: 'interrupted', reason: err.message, retryAfterSeconds: err.retryAfterSeconds, ...run.counts };
  }
}

class SyncRun {
  readonly counts: DirectorySyncCounts = {
    inScope: 0,
    users: { created: 0, updated: 0, deactivated: 0, unchanged: 0, fetched: 0, conflicts: 0 },
    groups: { created: 0, updated: 0, deleted: 0 },
    members: { added: 0, removed: 0 },
    fullRound: { users: false, groups: false },
  };
  private readonly graph: DirectoryGraph;
  private readonly limit: number;
  /** Stored sync users by Entra object id. */
  private readonly users = new Map<string, StoredUser>();
  /** Users this run stored for the first time (their existing memberships are read). */
  private readonly newUsers = new Set<string>();
  private scope = new Set<string>();

  constructor(private readonly deps: DirectorySyncDeps) {
    this.graph = new DirectoryGraph(deps.graph);
    this.limit = deps.concurrency ?? 8;
  }

  // ---- users ---------------------------------------------------------------------------------

  async syncUsers(): Promise<void> {
    const groupId = this.deps.config.sync.groupId;
    if (!groupId) throw new ConfigError('DIRECTORY_SYNC_GROUP_ID', "is required when DIRECTORY_SOURCE is 'sync'.");
    try {
      this.scope = new Set(
        await this.graph.ids(`/groups/${encodeURIComponent(groupId)}/transitiveMembers/microsoft.graph.user?$select=id&${PAGE}`),
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
    this.counts.inScope = this.scope.size;
    for await (const u of this.deps.users.list({ source: 'sync' })) if (u.externalId) this.users.set(u.externalId.toLowerCase(), u);

    /** Users whose active state this round decided (the others in scope may need a read). */
    let decided = new Set<string>();
    const round = await this.round<GraphUser>(USERS_STATE, USERS_DELTA, {
      start: (full) => {
        this.counts.fullRound.users = full;
        decided = new Set();
      },
      page: (items) => forEachLimited(items, this.limit, (u) => this.applyUser(u, decided)),
    });

    // In scope, but not (or not fully) told about by the round: read them.
    const unknown = [...this.scope].filter((id) => !decided.has(id) && !this.users.get(id)?.active);
    await forEachLimited(unknown, this.limit, async (id) => {
      const u = await this.fetchUser(id);
      if (!u) return;
      const existing = this.users.get(id);
      const active = u.accountEnabled !== false;
      if (existing) await this.updateUser(existing, (r) => userResource(r, u, active));
      else await this.createUser(u, active);
    });

    // Out of scope (removed from the group, or deleted meanwhile): inactive, kept.
    const leaving = [...this.users.values()].filter((u) => u.active && !this.scope.has(u.externalId!.toLowerCase()));
    await forEachLimited(leaving, this.limit, (u) => this.updateUser(u, (r) => ({ ...r, active: false })));

    await this.saveLink(USERS_STATE, round);
  }

  private async applyUser(u: GraphUser, decided: Set<string>): Promise<void> {
    const id = u.id.toLowerCase();
    const existing = this.users.get(id);
    if (u['@removed']) {
      // Deleted in Entra ('changed': soft-deleted, restorable for 30 days; 'deleted': for good).
      decided.add(id);
      if (existing?.active) await this.updateUser(existing, (r) => ({ ...r, active: false }));
      return;
    }
    const inScope = this.scope.has(id);
    if (!existing) {
      if (!inScope) return; // someone else in the tenant: not ours
      const full = isComplete(u) ? u : await this.fetchUser(id);
      if (!full) return;
      decided.add(id);
      await this.createUser(full, full.accountEnabled !== false);
      return;
    }
    // A later round lists changed properties only: without accountEnabled, "enabled" is unchanged.
    let active: boolean | undefined;
    if (typeof u.accountEnabled === 'boolean') active = inScope && u.accountEnabled;
    else if (!inScope) active = false;
    else if (existing.active) active = true;
    if (active !== undefined) decided.add(id);
    await this.updateUser(existing, (r) => userResource(r, u, active ?? false));
  }

  private async fetchUser(id: string): Promise<GraphUser | undefined> {
    this.counts.users.fetched++;
    try {
      return await this.graph.get<GraphUser>(`/users/${encodeURIComponent(id)}?$select=${USER_SELECT.join(',')}`);
    } catch (err) {
      if (err instanceof GraphNotFoundError) return undefined; // deleted since the scope was read
      throw err;
    }
  }

  private async createUser(u: GraphUser, active: boolean): Promise<void> {
    const id = u.id.toLowerCase();
    const resource = userResource(undefined, u, active);
    try {
      const created = await this.deps.users.create(resource, 'sync');
      this.users.set(id, created);
      this.newUsers.add(id);
      this.counts.users.created++;
    } catch (err) {
      if (!(err instanceof DirectoryConflictError)) throw err;
      const holder = await this.deps.users.findByUserName(String(resource.userName));
      if (holder && holder.source === 'sync' && holder.externalId?.toLowerCase() === id) {
        // The same Entra user, stored meanwhile (it appeared twice): update it instead.
        this.users.set(id, holder);
        await this.updateUser(holder, (r) => userResource(r, u, active));
        return;
      }
      if (!(await this.releaseUserName(holder, String(resource.userName)))) return this.conflict(id, holder);
      try {
        const created = await this.deps.users.create(resource, 'sync');
        this.users.set(id, created);
        this.newUsers.add(id);
        this.counts.users.created++;
      } catch (again) {
        if (!(again instanceof DirectoryConflictError)) throw again;
        this.conflict(id, await this.deps.users.findByUserName(String(resource.userName)));
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
  private async releaseUserName(holder: StoredUser | undefined, userName: string): Promise<boolean> {
    if (!holder || holder.source !== 'sync' || holder.active || !holder.externalId) return false;
    const entra = await this.fetchUser(holder.externalId);
    if (entra?.userPrincipalName?.toLowerCase() === userName.toLowerCase()) return false; // still that account's name
    const before = this.counts.users.conflicts;
    await this.updateUser(holder, (r) =>
      entra ? userResource(r, entra, false) : { ...r, userName: `${holder.externalId}@removed.invalid` },
    );
    if (this.counts.users.conflicts !== before) return false;
    this.deps.log.info('directorySync: the userName of a deleted or renamed Entra account was released for another account', {
      storedUserId: holder.id,
      objectId: holder.externalId,
    });
    return true;
  }

  /** An ETag-guarded replace of `current` with `build(its resource)`, re-read and rebuilt on conflict. */
  private async updateUser(current: StoredUser, build: (resource: Record<string, unknown>) => Record<string, unknown>): Promise<void> {
    const key = current.externalId!.toLowerCase();
    let cur: StoredUser | undefined = current;
    let released = false;
    for (let attempt = 0; attempt < 5 && cur; attempt++) {
      const next = build(cur.resource);
      if (sameResource(next, cur.resource)) {
        this.counts.users.unchanged++;
        return;
      }
      let written: StoredUser | undefined;
      try {
        written = await this.deps.users.replace(cur, next);
      } catch (err) {
        if (!(err instanceof DirectoryConflictError)) throw err;
        // Renamed in Entra to a userName another stored user has.
        const holder = await this.deps.users.findByUserName(String(next.userName));
        if (released || !(await this.releaseUserName(holder, String(next.userName)))) return this.conflict(key, holder);
        released = true;
        cur = await this.deps.users.get(cur.id);
        continue;
      }
      if (written) {
        this.users.set(key, written);
        if (cur.active && !written.active) this.counts.users.deactivated++;
        else this.counts.users.updated++;
        return;
      }
      cur = await this.deps.users.get(cur.id);
    }
    if (!cur) {
      this.users.delete(key); // deleted from the store meanwhile: nothing to update
      return;
    }
    throw new Error(`The stored user ${current.id} kept changing during the sync; it is updated on the next run.`);
  }

  private conflict(objectId: string, holder: StoredUser | undefined): void {
    this.counts.users.conflicts++;
    // Ids only: the userName is personal data and stays out of the log.
    this.deps.log.warn('directorySync: the userName of an Entra user belongs to another stored user; that user is skipped', {
      objectId,
      storedUserId: holder?.id,
      storedSource: holder?.source,
    });
  }

  // ---- groups --------------------------------------------------------------------------------

  async syncGroups(): Promise<void> {
    const prefix = this.deps.config.sync.groupPrefix;
    const groups = new Map<string, StoredGroup>();
    for await (const g of this.deps.groups.list({ source: 'sync' })) if (g.externalId) groups.set(g.externalId.toLowerCase(), g);
    if (!prefix) {
      // No prefix (any more): no group is synced. Groups an earlier configuration synced would
      // never be updated again, so they go rather than linger as stale data.
      for (const g of [...groups.values()]) await this.deleteGroup(g, groups);
      // ...and their rounds' links: a prefix set again starts with a full round.
      for await (const s of this.deps.state.list()) if (s.name.startsWith(GROUPS_STATE_PREFIX)) await this.deps.state.remove(s.name, s);
      return;
    }
    const lowerPrefix = prefix.toLowerCase();
    const matches = (name: string) => name.toLowerCase().startsWith(lowerPrefix);

    let seen = new Set<string>();
    let fresh = new Set<string>();
    /** The last members@delta entry per (group, member): Graph reports net changes, later entries win. */
    let ops = new Map<string, { group: string; member: GraphMemberRef }>();
    let full = false;
    const state = groupsStateName(prefix);
    const round = await this.round<GraphGroup>(state, GROUPS_DELTA, {
      start: (isFull) => {
        full = isFull;
        this.counts.fullRound.groups = isFull;
        seen = new Set();
        fresh = new Set();
        ops = new Map();
      },
      // In order: one group may come in several entries (its members split), the first with its name.
      page: async (items) => {
        for (const g of items) {
          const id = g.id.toLowerCase();
          const existing = groups.get(id);
          const name = g.displayName ?? existing?.displayName;
          if (g['@removed'] || !name || !matches(name)) {
            if (existing) await this.deleteGroup(existing, groups);
            seen.delete(id);
            continue;
          }
          if (!existing) {
            groups.set(id, await this.deps.groups.create(groupResource(id, name), 'sync'));
            this.counts.groups.created++;
            if (!full) fresh.add(id);
          } else if (g.displayName && existing.displayName !== g.displayName) {
            await this.renameGroup(existing, g.displayName, groups);
          }
          seen.add(id);
          for (const m of g['members@delta'] ?? []) ops.set(`${id}|${m.id.toLowerCase()}`, { group: id, member: m });
        }
      },
    });

    const resolve = (m: GraphMemberRef): { id: string; type: MemberType } | undefined => {
      const key = m.id.toLowerCase();
      if ((m['@odata.type'] ?? '').toLowerCase() === '#microsoft.graph.group') {
        const g = groups.get(key);
        return g && { id: g.id, type: 'Group' };
      }
      const u = this.users.get(key);
      return u && { id: u.id, type: 'User' };
    };

    if (full) {
      // A full round lists every member of every group: make the stored rows exactly that.
      for (const g of [...groups.values()]) if (!seen.has(g.externalId!.toLowerCase())) await this.deleteGroup(g, groups);
      const wanted = new Map<string, Map<string, MemberType>>();
      for (const g of groups.values()) wanted.set(g.externalId!.toLowerCase(), new Map());
      for (const { group, member } of ops.values()) {
        const target = !member['@removed'] && resolve(member);
        if (target) wanted.get(group)?.set(target.id, target.type);
      }
      await forEachLimited([...wanted], this.limit, async ([ext, want]) => this.setMembers(groups.get(ext)!.id, want));
    } else {
      await forEachLimited([...ops.values()], this.limit, async ({ group, member }) => {
        const g = groups.get(group);
        const target = resolve(member);
        if (!g || !target) return; // the group left the store later in the round, or the member is not synced
        if (member['@removed']) {
          await this.deps.members.remove(g.id, target.id);
          this.counts.members.removed++;
        } else {
          await this.deps.members.add(g.id, target.id, target.type);
          this.counts.members.added++;
        }
      });
      // Groups that entered the store in this round: their members and parents, which the delta did not repeat.
      for (const ext of fresh) {
        const g = groups.get(ext);
        if (!g) continue;
        for await (const page of this.graph.pages<GraphMemberRef>(`/groups/${encodeURIComponent(ext)}/members?$select=id&${PAGE}`)) {
          for (const m of page.value) {
            const target = resolve(m);
            if (target) await this.addMember(g.id, target.id, target.type);
          }
        }
        for (const parent of await this.graph.ids(`/groups/${encodeURIComponent(ext)}/memberOf/microsoft.graph.group?$select=id&${PAGE}`)) {
          const p = groups.get(parent);
          if (p) await this.addMember(p.id, g.id, 'Group');
        }
      }
      // Users stored for the first time: the synced groups they were already in.
      await forEachLimited([...this.newUsers], this.limit, async (ext) => {
        const u = this.users.get(ext);
        if (!u) return;
        for (const parent of await this.graph.ids(`/users/${encodeURIComponent(ext)}/memberOf/microsoft.graph.group?$select=id&${PAGE}`)) {
          const p = groups.get(parent);
          if (p) await this.addMember(p.id, u.id, 'User');
        }
      });
    }
    await this.saveLink(state, round);
  }

  private async addMember(groupId: string, memberId: string, type: MemberType): Promise<void> {
    await this.deps.members.add(groupId, memberId, type);
    this.counts.members.added++;
  }

  /** Makes the group's stored members exactly `want` (a full round). */
  private async setMembers(groupId: string, want: Map<string, MemberType>): Promise<void> {
    const have = new Set<string>();
    for await (const m of this.deps.members.list(groupId)) {
      have.add(m.value);
      if (!want.has(m.value)) {
        await this.deps.members.remove(groupId, m.value);
        this.counts.members.removed++;
      }
    }
    for (const [id, type] of want) if (!have.has(id)) await this.addMember(groupId, id, type);
  }

  private async renameGroup(current: StoredGroup, displayName: string, groups: Map<string, StoredGroup>): Promise<void> {
    const ext = current.externalId!.toLowerCase();
    let cur: StoredGroup | undefined = current;
    for (let attempt = 0; attempt < 5 && cur; attempt++) {
      const written = await this.deps.groups.replace(cur, { ...cur.resource, displayName });
      if (written) {
        groups.set(ext, written);
        this.counts.groups.updated++;
        return;
      }
      cur = await this.deps.groups.get(cur.id);
    }
    if (cur) throw new Error(`The stored group ${current.id} kept changing during the sync; it is updated on the next run.`);
    groups.delete(ext);
  }

  private async deleteGroup(g: StoredGroup, groups: Map<string, StoredGroup>): Promise<void> {
    // Memberships first: a crash leaves a group without rows, never rows without a group.
    this.counts.members.removed += await this.deps.members.removeAllOf(g.id);
    await this.deps.members.removeMember(g.id);
    if (await this.deps.groups.delete(g)) this.counts.groups.deleted++;
    groups.delete(g.externalId!.toLowerCase());
  }

  // ---- delta rounds --------------------------------------------------------------------------

  /**
   * One delta round: from the stored deltaLink, or from `initial` (no link, a link for another
   * Graph host, or an expired token: then the link is dropped and the round starts over in full).
   */
  private async round<T extends { id: string }>(
    name: string,
    initial: string,
    handlers: { start(full: boolean): void; page(items: T[]): Promise<void> },
  ): Promise<{ deltaLink: string; previous?: DeltaLink }> {
    let previous = await this.deps.state.get(name);
    let link = initial;
    if (previous && this.graph.ownsLink(previous.deltaLink)) link = previous.deltaLink;
    else if (previous)
      this.deps.log.warn('directorySync: the stored delta link is for another Graph endpoint; reading everything', { query: name });
    for (;;) {
      const full = link === initial;
      handlers.start(full);
      try {
        for await (const page of this.graph.pages<T>(link)) {
          await handlers.page(page.value);
          const deltaLink = page['@odata.deltaLink'];
          if (deltaLink) return { deltaLink, previous };
        }
        throw new DirectorySyncError('graph', `Microsoft Graph ended the ${name} delta round without an @odata.deltaLink.`);
      } catch (err) {
        if (!(err instanceof DeltaExpiredError)) throw err;
        if (full) throw new DirectorySyncError('graph', err.message);
        this.deps.log.info('directorySync: the delta token expired; reading everything again', { query: name, code: err.code });
        if (previous) await this.deps.state.remove(name, previous);
        previous = undefined;
        link = initial;
      }
    }
  }

  private async saveLink(name: string, round: { deltaLink: string; previous?: DeltaLink }): Promise<void> {
    if (!(await this.deps.state.save(name, round.deltaLink, round.previous))) {
      this.deps.log.warn('directorySync: another run stored a delta link meanwhile; keeping it', { query: name });
    }
  }
}
