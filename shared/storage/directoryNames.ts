/**
 * The names a user is found by on the console's Directory page, sorted for prefix search: rows in
 * `directoryindex` under PK `names`, RK `<encoded lower-cased value>|<kind>|<user id>` for the
 * userName (kind `u`, usually the UPN) and each e-mail address (kind `m`). A prefix is one range
 * query of one partition however large the directory is (encodeURIComponent per character keeps
 * "a prefix of the value" as "a prefix of the key", and never yields `|`, `/`, `\`, `#` or `?`).
 *
 * The rows follow a user's writes (DirectoryUsers create, replace, delete) after the resource row,
 * best effort: a process dying in between leaves a stale row (a read checks the user still has the
 * name) or a missing one (that user is found by the exact userName only, until its next change).
 * Users stored before these rows existed are likewise found exactly until they change.
 */
import { odata, type TableClient } from '@azure/data-tables';
import { unlessStatus } from './clients';

const PARTITION = 'names';

export type NameKind = 'u' | 'm';

export interface NamedUser {
  userName: string;
  resource: Record<string, unknown>;
}

const norm = (v: string) => v.normalize('NFC').toLowerCase();
const encode = (v: string) => encodeURIComponent(norm(v)).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);

/** The names of a user: its userName and its e-mail addresses (lower-cased, without repeats). */
export function namesOf(user: NamedUser): Array<{ kind: NameKind; value: string }> {
  const out = new Map<string, { kind: NameKind; value: string }>();
  if (user.userName) out.set(`u|${norm(user.userName)}`, { kind: 'u', value: user.userName });
  const emails = Array.isArray(user.resource.emails) ? (user.resource.emails as Array<Record<string, unknown>>) : [];
  for (const e of emails) {
    if (typeof e?.value === 'string' && e.value.trim()) out.set(`m|${norm(e.value)}`, { kind: 'm', value: e.value.trim() });
  }
  return [...out.values()].filter((n) => n.value.length <= 256);
}

const rowKey = (n: { kind: NameKind; value: string }, id: string) => `${encode(n.value)}|${n.kind}|${id}`;

/** The smallest string greater than every string that starts with `s` (its last character plus one). */
const after = (s: string) => s.slice(0, -1) + String.fromCharCode(s.charCodeAt(s.length - 1) + 1);

export class DirectoryNames {
  constructor(
    private readonly index: TableClient,
    private readonly ready: () => Promise<unknown>,
  ) {}

  /** Makes the rows match the user's names (`before`: the user as it was, if any). Best effort. */
  async update(id: string, before: NamedUser | undefined, after: NamedUser | undefined): Promise<void> {
    const keys = (u: NamedUser | undefined) => new Set((u ? namesOf(u) : []).map((n) => rowKey(n, id)));
    const [was, is] = [keys(before), keys(after)];
    try {
      await this.ready();
      await Promise.all([
        ...[...is]
          .filter((k) => !was.has(k))
          .map((k) => this.index.upsertEntity({ partitionKey: PARTITION, rowKey: k, userId: id }, 'Replace')),
        ...[...was].filter((k) => !is.has(k)).map((k) => unlessStatus(this.index.deleteEntity(PARTITION, k), 404)),
      ]);
    } catch {
      // Best effort (see above): the resource row is what counts.
    }
  }

  /** The ids of users with a name (userName or e-mail) that starts with `prefix`, at most `limit`, with what matched. */
  async startingWith(prefix: string, limit: number): Promise<Array<{ id: string; kind: NameKind }>> {
    const from = encode(prefix);
    if (!from) return [];
    await this.ready();
    const filter = odata`PartitionKey eq ${PARTITION} and RowKey ge ${from} and RowKey lt ${after(from)}`;
    const out: Array<{ id: string; kind: NameKind }> = [];
    const pages = this.index
      .listEntities<{ userId?: string }>({ queryOptions: { filter, select: ['RowKey', 'userId'] } })
      .byPage({ maxPageSize: limit });
    for await (const page of pages) {
      for (const e of page) {
        const kind = e.rowKey!.split('|').at(-2) as NameKind;
        if (typeof e.userId === 'string' && out.length < limit) out.push({ id: e.userId, kind });
      }
      break; // one page: the first `limit` names in order
    }
    return out;
  }
}
