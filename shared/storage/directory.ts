/**
 * The directory: users and groups, written by SCIM provisioning or by directory sync, read by
 * delivery. Four tables, each access a point read or a single-partition query (every filter built
 * with `odata` from @azure/data-tables, which quotes and escapes the values):
 *
 * - `directoryusers` / `directorygroups`: one row per resource (PK id, RK 'user'/'group'); the
 *   SCIM resource JSON as sent, plus the indexed facts (userName, externalId, displayName, active).
 * - `directoryindex`: lookup rows, PK `<kind>-<sha256 of the normalised value>`. userName is unique
 *   (RK 'unique', holding the owner's id); externalId and displayName are not (RK = owner id).
 *   Index rows are written BEFORE the resource row and removed after it, and every lookup checks the
 *   resource row, so a crash can leave a stale index row (ignored, and a stale userName claim is
 *   taken over) but never a resource that cannot be found.
 * - `directorymembers`: one row per membership in both directions (./directoryMembers.ts).
 * - `directorycounts`: how many users and groups there are, kept by the writes here
 *   (./directoryCounts.ts).
 *
 * Every update of a resource row is guarded by the ETag it was read with.
 */
import { createHash, randomUUID } from 'node:crypto';
import { odata, type TableClient } from '@azure/data-tables';
import { packText, unpackText } from './chunks';
import { once, unlessStatus } from './clients';
import { CONFLICT, retryOnConflict } from './conditionalWrite';
import { DirectoryCounts, rowTally, type CountedKind } from './directoryCounts';
import { DirectoryMembers } from './directoryMembers';
import { DirectoryNames, namesOf, type NameKind } from './directoryNames';

export { DirectoryMembers, type Member, type MemberType } from './directoryMembers';
export { DIRECTORY_COUNTS_TABLE, DirectoryCounts, type DirectoryTally, type Tally } from './directoryCounts';

export const DIRECTORY_USERS_TABLE = 'directoryusers';
export const DIRECTORY_GROUPS_TABLE = 'directorygroups';
export const DIRECTORY_INDEX_TABLE = 'directoryindex';
export const DIRECTORY_MEMBERS_TABLE = 'directorymembers';

export type DirectorySource = 'scim' | 'sync';

/** Which rows `list` returns: those of one source and/or one active state (users), all without. */
export interface ListFilter {
  source?: DirectorySource;
  /** Users only: their active state. */
  active?: boolean;
}

interface StoredResource {
  id: string;
  /** The SCIM resource as stored: canonical attribute names, values as sent, no id/meta. */
  resource: Record<string, unknown>;
  externalId?: string;
  source: DirectorySource;
  created: Date;
  lastModified: Date;
  etag: string;
}

export interface StoredUser extends StoredResource {
  userName: string;
  active: boolean;
}

export interface StoredGroup extends StoredResource {
  displayName: string;
}

/** A unique value (a userName, a SCIM group's displayName) that another resource already has (compared case-insensitively). */
export class DirectoryConflictError extends Error {
  constructor(
    readonly attribute: string,
    readonly value: string,
  ) {
    super(`${attribute} is already in use.`);
    this.name = 'DirectoryConflictError';
  }
}

/** The key of a value in the index: case and Unicode form do not matter. */
export function indexKey(kind: string, value: string): string {
  return `${kind}-${createHash('sha256').update(value.normalize('NFC').toLowerCase()).digest('hex')}`;
}

const same = (a: string | undefined, b: string | undefined) =>
  a !== undefined && b !== undefined && a.normalize('NFC').toLowerCase() === b.normalize('NFC').toLowerCase();

type Entity = Record<string, unknown> & { etag: string };

const text = (v: unknown) => (typeof v === 'string' ? v : undefined);
/** A row's counted facts: users are active or not; groups have no such state. */
const activeOf = (r: StoredResource & { active?: boolean }) => ({ active: r.active, source: r.source });
const date = (v: unknown) => new Date(v as string);

interface IndexSpec<T> {
  kind: string;
  /** The attribute, as a conflict names it. */
  attribute: string;
  value(r: T): string | undefined;
  /** One owner per value (userName) or many (externalId, displayName). */
  unique: boolean;
  /** The index is case-insensitive; a case-exact attribute (externalId, RFC 7643) is compared exactly after. */
  caseExact?: boolean;
}

/**
 * Resource rows with their index rows: the shared machinery of users and groups. `toFacts` turns a
 * resource into the row's indexed columns; `fromRow` rebuilds the stored value.
 */
abstract class ResourceRepository<T extends StoredResource> {
  protected readonly ready: () => Promise<void>;

  constructor(
    protected readonly table: TableClient,
    protected readonly index: TableClient,
    private readonly rowKey: string,
    private readonly specs: IndexSpec<T>[],
    private readonly counts: DirectoryCounts,
    private readonly kind: CountedKind,
  ) {
    this.ready = once(() => Promise.all([table.createTable(), index.createTable()]));
  }

  protected abstract facts(resource: Record<string, unknown>): Record<string, unknown>;
  protected abstract fromRow(e: Entity, resource: Record<string, unknown>): T;

  async get(id: string): Promise<T | undefined> {
    await this.ready();
    if (!isKeySafe(id)) return undefined;
    const e = await unlessStatus(this.table.getEntity<Record<string, unknown>>(id, this.rowKey), 404);
    return e && this.read(e);
  }

  async create(resource: Record<string, unknown>, source: DirectorySource): Promise<T> {
    await this.ready();
    const id = randomUUID();
    const now = new Date();
    const draft = this.fromRow({ etag: '', ...this.entity(id, resource, source, now, now) }, resource);
    await this.counts.beforeWrite(this.kind);
    await this.claim(draft);
    const res = await this.table.createEntity(this.entity(id, resource, source, now, now));
    await this.counts.change(this.kind, rowTally(activeOf(draft), 1));
    return { ...draft, etag: res.etag! };
  }

  /** Replaces the resource if its row is unchanged since `current` was read; undefined when it changed (or is gone). */
  async replace(current: T, resource: Record<string, unknown>): Promise<T | undefined> {
    await this.ready();
    const now = new Date();
    const entity = this.entity(current.id, resource, current.source, current.created, now);
    const next = this.fromRow({ etag: '', ...entity }, resource);
    await this.claim(next, current);
    const res = await unlessStatus(this.table.updateEntity(entity, 'Replace', { etag: current.etag }), 412, 404);
    if (!res) return undefined;
    await this.release(current, next);
    const [was, is] = [activeOf(current), activeOf(next)];
    if (was.active !== is.active) await this.counts.change(this.kind, { total: 0, active: is.active ? 1 : -1, scim: 0, sync: 0 });
    return { ...next, etag: res.etag! };
  }

  /** Removes the row (and then its index rows). False when there was none. */
  async delete(target: T | string): Promise<boolean> {
    await this.ready();
    const current = typeof target === 'string' ? await this.get(target) : target;
    if (!current) return false;
    const gone = await unlessStatus(this.table.deleteEntity(current.id, this.rowKey), 404);
    await this.release(current);
    if (gone !== undefined) await this.counts.change(this.kind, rowTally(activeOf(current), -1));
    return gone !== undefined;
  }

  /** Every resource, or those `filter` selects (a filtered scan). */
  async *list(filter: ListFilter = {}): AsyncIterable<T> {
    await this.ready();
    const parts = [odata`RowKey eq ${this.rowKey}`];
    if (filter.source) parts.push(odata`source eq ${filter.source}`);
    if (filter.active !== undefined) parts.push(odata`active eq ${filter.active}`);
    for await (const e of this.table.listEntities<Record<string, unknown>>({ queryOptions: { filter: parts.join(' and ') } })) {
      yield this.read(e);
    }
  }

  /** Whether any row exists (a keys-only query of one entity). */
  async any(): Promise<boolean> {
    await this.ready();
    const rows = this.table.listEntities({ queryOptions: { filter: odata`RowKey eq ${this.rowKey}`, select: ['PartitionKey'] } });
    for await (const row of rows.byPage({ maxPageSize: 1 })) if (row.length > 0) return true;
    return false;
  }

  /** Every row's counted facts (active, source), selected alone: what a recount reads. */
  async *countedFacts(): AsyncIterable<{ active: boolean; source: DirectorySource }> {
    await this.ready();
    const filter = odata`RowKey eq ${this.rowKey}`;
    for await (const e of this.table.listEntities<{ active?: boolean; source?: DirectorySource }>({
      queryOptions: { filter, select: ['active', 'source'] },
    })) {
      yield { active: e.active !== false && this.rowKey === 'user', source: e.source ?? 'scim' };
    }
  }

  /** Resources whose indexed value equals `value` (case-insensitively): one partition query, each hit checked. */
  protected async lookup(spec: IndexSpec<T>, value: string): Promise<T[]> {
    await this.ready();
    const pk = indexKey(spec.kind, value);
    const ids: string[] = [];
    for await (const e of this.index.listEntities<{ owner?: string }>({ queryOptions: { filter: odata`PartitionKey eq ${pk}` } })) {
      const owner = spec.unique ? e.owner : e.rowKey;
      if (owner) ids.push(owner);
    }
    const found: Array<T | undefined> = await Promise.all(ids.map((id) => this.get(id)));
    return found.filter((r): r is T => r !== undefined && (spec.caseExact ? spec.value(r) === value : same(spec.value(r), value)));
  }

  /** Point read of a unique index row, checked against its owner. */
  protected async lookupUnique(spec: IndexSpec<T>, value: string): Promise<T | undefined> {
    await this.ready();
    const row = await unlessStatus(this.index.getEntity<{ owner?: string }>(indexKey(spec.kind, value), 'unique'), 404);
    const owner = row?.owner && (await this.get(row.owner));
    return owner && same(spec.value(owner), value) ? owner : undefined;
  }

  /** Writes the index rows `next` needs that `current` does not have; a unique value held by someone else is a conflict. */
  private async claim(next: T, current?: T): Promise<void> {
    for (const spec of this.specs) {
      const value = spec.value(next);
      if (value === undefined || (current && same(spec.value(current), value))) continue;
      const pk = indexKey(spec.kind, value);
      if (!spec.unique) {
        await this.index.upsertEntity({ partitionKey: pk, rowKey: next.id }, 'Replace');
        continue;
      }
      await this.claimUnique(spec, pk, value, next.id);
    }
  }

  /** Claims `value` for `id`: inserts the unique row, or takes over a stale one; a current holder is a conflict. */
  private async claimUnique(spec: IndexSpec<T>, pk: string, value: string, id: string): Promise<void> {
    const claimed = await retryOnConflict(async () => {
      if (await unlessStatus(this.index.createEntity({ partitionKey: pk, rowKey: 'unique', owner: id }), 409)) return true;
      const row = await unlessStatus(this.index.getEntity<{ owner?: string }>(pk, 'unique'), 404);
      if (!row) return CONFLICT; // released meanwhile: insert again
      if (row.owner === id) return true;
      const holder = row.owner ? await this.get(row.owner) : undefined;
      if (holder && same(spec.value(holder), value)) throw new DirectoryConflictError(spec.attribute, value);
      // A stale claim (its owner is gone or was renamed before a crash): take it over, if nobody else did.
      const update = this.index.updateEntity({ partitionKey: pk, rowKey: 'unique', owner: id }, 'Replace', { etag: row.etag });
      return (await unlessStatus(update, 412, 404)) ? true : CONFLICT;
    });
    if (claimed === CONFLICT) throw new DirectoryConflictError(spec.attribute, value);
  }

  /** Removes the index rows of `current` that `next` (if any) no longer has. Best effort: lookups check the owner. */
  private async release(current: T, next?: T): Promise<void> {
    for (const spec of this.specs) {
      const value = spec.value(current);
      if (value === undefined || (next && same(spec.value(next), value))) continue;
      const pk = indexKey(spec.kind, value);
      if (spec.unique) {
        const row = await unlessStatus(this.index.getEntity<{ owner?: string }>(pk, 'unique'), 404);
        if (row?.owner === current.id) await unlessStatus(this.index.deleteEntity(pk, 'unique', { etag: row.etag }), 404, 412);
      } else {
        await unlessStatus(this.index.deleteEntity(pk, current.id), 404);
      }
    }
  }

  private entity(id: string, resource: Record<string, unknown>, source: DirectorySource, created: Date, lastModified: Date) {
    return {
      partitionKey: id,
      rowKey: this.rowKey,
      ...this.facts(resource),
      source,
      created,
      lastModified,
      ...packText('resource', JSON.stringify(resource)),
    };
  }

  /** The columns every resource row has. */
  protected common(e: Entity, resource: Record<string, unknown>): StoredResource {
    return {
      id: e.partitionKey as string,
      resource,
      externalId: text(e.externalId),
      source: e.source as DirectorySource,
      created: date(e.created),
      lastModified: date(e.lastModified),
      etag: e.etag,
    };
  }

  private read(e: Entity): T {
    return this.fromRow(e, JSON.parse(unpackText('resource', e)) as Record<string, unknown>);
  }
}

export class DirectoryUsers extends ResourceRepository<StoredUser> {
  private static readonly userName: IndexSpec<StoredUser> = {
    kind: 'username',
    attribute: 'userName',
    unique: true,
    value: (u) => u.userName,
  };
  private static readonly externalId: IndexSpec<StoredUser> = {
    kind: 'userext',
    attribute: 'externalId',
    unique: false,
    caseExact: true,
    value: (u) => u.externalId,
  };

  private readonly names: DirectoryNames;

  constructor(table: TableClient, index: TableClient, counts: DirectoryCounts) {
    super(table, index, 'user', [DirectoryUsers.userName, DirectoryUsers.externalId], counts, 'users');
    this.names = new DirectoryNames(index, this.ready);
  }

  override async create(resource: Record<string, unknown>, source: DirectorySource): Promise<StoredUser> {
    const user = await super.create(resource, source);
    await this.names.update(user.id, undefined, user);
    return user;
  }

  override async replace(current: StoredUser, resource: Record<string, unknown>): Promise<StoredUser | undefined> {
    const next = await super.replace(current, resource);
    if (next) await this.names.update(next.id, current, next);
    return next;
  }

  override async delete(target: StoredUser | string): Promise<boolean> {
    const current = typeof target === 'string' ? await this.get(target) : target;
    if (!current) return false;
    const gone = await super.delete(current);
    if (gone) await this.names.update(current.id, current, undefined);
    return gone;
  }

  /**
   * Users with a userName or e-mail address that starts with `prefix` (any letter case), at most
   * `limit`, in the order of the names: one range query (./directoryNames.ts), each hit checked.
   */
  async findByPrefix(prefix: string, limit: number): Promise<Array<{ user: StoredUser; by: 'userName' | 'mail' }>> {
    const hits = await this.names.startingWith(prefix, limit * 2);
    const seen = new Map<string, NameKind>();
    for (const h of hits) if (!seen.has(h.id)) seen.set(h.id, h.kind);
    const users = await Promise.all([...seen.keys()].map((id) => this.get(id)));
    const p = prefix.normalize('NFC').toLowerCase();
    const out: Array<{ user: StoredUser; by: 'userName' | 'mail' }> = [];
    for (const user of users) {
      if (!user) continue;
      const name = namesOf(user).find((n) => n.value.normalize('NFC').toLowerCase().startsWith(p));
      if (name && out.length < limit) out.push({ user, by: name.kind === 'u' ? 'userName' : 'mail' });
    }
    return out;
  }

  protected facts(r: Record<string, unknown>) {
    return { userName: text(r.userName) ?? '', externalId: text(r.externalId), active: r.active !== false };
  }

  protected fromRow(e: Entity, resource: Record<string, unknown>): StoredUser {
    return { ...this.common(e, resource), userName: e.userName as string, active: e.active !== false };
  }

  /** The user with this userName (case-insensitive): two point reads. */
  findByUserName(userName: string): Promise<StoredUser | undefined> {
    return this.lookupUnique(DirectoryUsers.userName, userName);
  }

  findByExternalId(externalId: string): Promise<StoredUser[]> {
    return this.lookup(DirectoryUsers.externalId, externalId);
  }
}

export class DirectoryGroups extends ResourceRepository<StoredGroup> {
  private static readonly displayName: IndexSpec<StoredGroup> = {
    kind: 'groupname',
    attribute: 'displayName',
    unique: false,
    value: (g) => g.displayName,
  };
  /**
   * Groups provisioned over SCIM have unique displayNames, whatever the case (Microsoft lists it as
   * a requirement for Entra's provisioning); synced groups mirror Entra, where names may repeat.
   */
  private static readonly uniqueName: IndexSpec<StoredGroup> = {
    kind: 'groupuname',
    attribute: 'displayName',
    unique: true,
    value: (g) => (g.source === 'scim' ? g.displayName : undefined),
  };
  private static readonly externalId: IndexSpec<StoredGroup> = {
    kind: 'groupext',
    attribute: 'externalId',
    unique: false,
    caseExact: true,
    value: (g) => g.externalId,
  };

  constructor(table: TableClient, index: TableClient, counts: DirectoryCounts) {
    super(table, index, 'group', [DirectoryGroups.displayName, DirectoryGroups.uniqueName, DirectoryGroups.externalId], counts, 'groups');
  }

  protected facts(r: Record<string, unknown>) {
    return { displayName: text(r.displayName) ?? '', externalId: text(r.externalId) };
  }

  protected fromRow(e: Entity, resource: Record<string, unknown>): StoredGroup {
    return { ...this.common(e, resource), displayName: e.displayName as string };
  }

  findByDisplayName(displayName: string): Promise<StoredGroup[]> {
    return this.lookup(DirectoryGroups.displayName, displayName);
  }

  findByExternalId(externalId: string): Promise<StoredGroup[]> {
    return this.lookup(DirectoryGroups.externalId, externalId);
  }
}

/** Table keys cannot hold / \ # ? or control characters; ids from the outside are checked before use. */
export function isKeySafe(id: string): boolean {
  return id.length > 0 && id.length <= 256 && !/[/\\#?\u0000-\u001f\u007f-\u009f]/.test(id);
}

export interface Directory {
  users: DirectoryUsers;
  groups: DirectoryGroups;
  members: DirectoryMembers;
  /** How many users and groups there are (kept by the writes above). */
  counts: Pick<DirectoryCounts, 'read' | 'recount'>;
}

export function createDirectory(tables: {
  users: TableClient;
  groups: TableClient;
  index: TableClient;
  members: TableClient;
  counts: TableClient;
}): Directory {
  const counts = new DirectoryCounts(tables.counts);
  const users = new DirectoryUsers(tables.users, tables.index, counts);
  const groups = new DirectoryGroups(tables.groups, tables.index, counts);
  const repository = (kind: CountedKind) => (kind === 'users' ? users : groups);
  counts.attach({ any: (kind) => repository(kind).any(), scan: (kind) => repository(kind).countedFacts() });
  return { users, groups, members: new DirectoryMembers(tables.members), counts };
}
