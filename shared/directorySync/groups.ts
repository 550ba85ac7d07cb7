/**
 * The groups step of a sync run, when DIRECTORY_SYNC_GROUP_PREFIX is set (without it, groups
 * synced earlier are deleted: nothing would keep them up to date): a delta round of
 * `/groups/delta` with `members` (group-delta, delta-query-groups). Groups whose name starts with
 * the prefix (case-insensitively) are stored; `members@delta` adds and removes membership rows for
 * members the store has (synced users and synced groups). A group deleted or renamed out of the
 * prefix is deleted from the store with its memberships. A group that enters the prefix in a
 * later round, and a user stored for the first time, get their existing memberships read
 * (`/groups/{id}/members`, `/…/memberOf`), since the delta reports only changes.
 */
import { createHash } from 'node:crypto';
import { forEachLimited } from '../concurrency';
import { CONFLICT, retryOnConflict, type MemberType, type StoredGroup } from '../storage';
import { deltaRound, saveLink } from './delta';
import { groupResource, type GraphGroup, type GraphMemberRef } from './mapping';
import { PAGE, type SyncRun } from './run';

export const GROUPS_DELTA = '/groups/delta?$select=id,displayName,members';

/** The delta link rows of the groups round: one per prefix, so a new prefix starts with a full round. */
const GROUPS_STATE_PREFIX = 'groups-';
export function groupsStateName(prefix: string): string {
  return `${GROUPS_STATE_PREFIX}${createHash('sha256').update(prefix.toLowerCase()).digest('hex').slice(0, 16)}`;
}

/** Stored sync groups by Entra object id. */
type Groups = Map<string, StoredGroup>;

export async function syncGroups(run: SyncRun): Promise<void> {
  const { deps, counts, limit, reader } = run;
  const prefix = deps.config.sync.groupPrefix;
  const groups: Groups = new Map();
  for await (const g of deps.groups.list({ source: 'sync' })) if (g.externalId) groups.set(g.externalId.toLowerCase(), g);
  if (!prefix) {
    // No prefix (any more): no group is synced. Groups an earlier configuration synced would
    // never be updated again, so they go rather than linger as stale data.
    for (const g of [...groups.values()]) await deleteGroup(run, g, groups);
    // ...and their rounds' links: a prefix set again starts with a full round.
    for await (const s of deps.deltaLinks.list()) if (s.name.startsWith(GROUPS_STATE_PREFIX)) await deps.deltaLinks.remove(s.name, s);
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
  const round = await deltaRound<GraphGroup>(run, state, GROUPS_DELTA, {
    start: (isFull) => {
      full = isFull;
      counts.fullRound.groups = isFull;
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
          if (existing) await deleteGroup(run, existing, groups);
          seen.delete(id);
          continue;
        }
        if (!existing) {
          groups.set(id, await deps.groups.create(groupResource(id, name), 'sync'));
          counts.groups.created++;
          if (!full) fresh.add(id);
        } else if (g.displayName && existing.displayName !== g.displayName) {
          await renameGroup(run, existing, g.displayName, groups);
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
    const u = run.users.get(key);
    return u && { id: u.id, type: 'User' };
  };

  if (full) {
    // A full round lists every member of every group: make the stored rows exactly that.
    for (const g of [...groups.values()]) if (!seen.has(g.externalId!.toLowerCase())) await deleteGroup(run, g, groups);
    const wanted = new Map<string, Map<string, MemberType>>();
    for (const g of groups.values()) wanted.set(g.externalId!.toLowerCase(), new Map());
    for (const { group, member } of ops.values()) {
      const target = !member['@removed'] && resolve(member);
      if (target) wanted.get(group)?.set(target.id, target.type);
    }
    await forEachLimited([...wanted], limit, async ([ext, want]) => setMembers(run, groups.get(ext)!.id, want));
  } else {
    await forEachLimited([...ops.values()], limit, async ({ group, member }) => {
      const g = groups.get(group);
      const target = resolve(member);
      if (!g || !target) return; // the group left the store later in the round, or the member is not synced
      if (member['@removed']) {
        await deps.members.remove(g.id, target.id);
        counts.members.removed++;
      } else {
        await deps.members.add(g.id, target.id, target.type);
        counts.members.added++;
      }
    });
    // Groups that entered the store in this round: their members and parents, which the delta did not repeat.
    for (const ext of fresh) {
      const g = groups.get(ext);
      if (!g) continue;
      for await (const page of reader.pages<GraphMemberRef>(`/groups/${encodeURIComponent(ext)}/members?$select=id&${PAGE}`)) {
        for (const m of page.value) {
          const target = resolve(m);
          if (target) await addMember(run, g.id, target.id, target.type);
        }
      }
      for (const parent of await reader.ids(`/groups/${encodeURIComponent(ext)}/memberOf/microsoft.graph.group?$select=id&${PAGE}`)) {
        const p = groups.get(parent);
        if (p) await addMember(run, p.id, g.id, 'Group');
      }
    }
    // Users stored for the first time: the synced groups they were already in.
    await forEachLimited([...run.newUsers], limit, async (ext) => {
      const u = run.users.get(ext);
      if (!u) return;
      for (const parent of await reader.ids(`/users/${encodeURIComponent(ext)}/memberOf/microsoft.graph.group?$select=id&${PAGE}`)) {
        const p = groups.get(parent);
        if (p) await addMember(run, p.id, u.id, 'User');
      }
    });
  }
  await saveLink(run, state, round);
}

async function addMember(run: SyncRun, groupId: string, memberId: string, type: MemberType): Promise<void> {
  await run.deps.members.add(groupId, memberId, type);
  run.counts.members.added++;
}

/** Makes the group's stored members exactly `want` (a full round). */
async function setMembers(run: SyncRun, groupId: string, want: Map<string, MemberType>): Promise<void> {
  const have = new Set<string>();
  for await (const m of run.deps.members.list(groupId)) {
    have.add(m.value);
    if (!want.has(m.value)) {
      await run.deps.members.remove(groupId, m.value);
      run.counts.members.removed++;
    }
  }
  for (const [id, type] of want) if (!have.has(id)) await addMember(run, groupId, id, type);
}

const GONE = Symbol('gone');

/** An ETag-guarded rename, re-read on conflict; a group deleted meanwhile is forgotten. */
async function renameGroup(run: SyncRun, current: StoredGroup, displayName: string, groups: Groups): Promise<void> {
  const ext = current.externalId!.toLowerCase();
  let cur = current;
  const outcome = await retryOnConflict(async () => {
    const written = await run.deps.groups.replace(cur, { ...cur.resource, displayName });
    if (written) {
      groups.set(ext, written);
      run.counts.groups.updated++;
      return undefined;
    }
    const fresh = await run.deps.groups.get(cur.id);
    if (!fresh) return GONE;
    cur = fresh;
    return CONFLICT;
  });
  if (outcome === CONFLICT) throw new Error(`The stored group ${current.id} kept changing during the sync; it is updated on the next run.`);
  if (outcome === GONE) groups.delete(ext); // deleted from the store meanwhile: nothing to rename
}

async function deleteGroup(run: SyncRun, g: StoredGroup, groups: Groups): Promise<void> {
  // Memberships first: a crash leaves a group without rows, never rows without a group.
  run.counts.members.removed += await run.deps.members.removeAllOf(g.id);
  await run.deps.members.removeMember(g.id);
  if (await run.deps.groups.delete(g)) run.counts.groups.deleted++;
  groups.delete(g.externalId!.toLowerCase());
}
