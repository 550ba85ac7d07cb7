/**
 * Group memberships of the directory (`directorymembers`): one row per membership in each
 * direction, PK `g-<groupId>` RK memberId, and PK `m-<memberId>` RK groupId. Adding one member to
 * a 50,000-member group writes two small rows; it never reads or rewrites the group.
 */
import { odata, type TableClient, type TableTransaction } from '@azure/data-tables';
import { forEachLimited } from '../concurrency';
import { hasStatus, once, unlessStatus } from './clients';

export type MemberType = 'User' | 'Group';

export interface Member {
  value: string;
  type: MemberType;
}

export class DirectoryMembers {
  private readonly ready: () => Promise<void>;

  constructor(private readonly table: TableClient) {
    this.ready = once(() => table.createTable());
  }

  /** Adds a membership; adding one that exists changes nothing. */
  async add(groupId: string, memberId: string, type: MemberType): Promise<void> {
    await this.ready();
    await Promise.all([
      this.table.upsertEntity({ partitionKey: `g-${groupId}`, rowKey: memberId, type }, 'Replace'),
      this.table.upsertEntity({ partitionKey: `m-${memberId}`, rowKey: groupId, type }, 'Replace'),
    ]);
  }

  /** Removes a membership; removing one that does not exist changes nothing. */
  async remove(groupId: string, memberId: string): Promise<void> {
    await this.ready();
    await Promise.all([
      unlessStatus(this.table.deleteEntity(`g-${groupId}`, memberId), 404),
      unlessStatus(this.table.deleteEntity(`m-${memberId}`, groupId), 404),
    ]);
  }

  /** The group's members (one partition query). */
  async *list(groupId: string): AsyncIterable<Member> {
    await this.ready();
    const filter = odata`PartitionKey eq ${`g-${groupId}`}`;
    for await (const e of this.table.listEntities<{ type?: MemberType }>({ queryOptions: { filter, select: ['RowKey', 'type'] } })) {
      yield { value: e.rowKey!, type: e.type === 'Group' ? 'Group' : 'User' };
    }
  }

  /** The ids of the groups the member belongs to directly. */
  async groupsOf(memberId: string): Promise<string[]> {
    await this.ready();
    const out: string[] = [];
    const filter = odata`PartitionKey eq ${`m-${memberId}`}`;
    for await (const e of this.table.listEntities({ queryOptions: { filter, select: ['RowKey'] } })) out.push(e.rowKey!);
    return out;
  }

  /** Removes every membership of the group (when it is deleted or its members replaced). */
  async removeAllOf(groupId: string): Promise<number> {
    const members: Member[] = [];
    for await (const m of this.list(groupId)) members.push(m);
    await forEachLimited(members, 8, (m) => unlessStatus(this.table.deleteEntity(`m-${m.value}`, groupId), 404));
    for (let i = 0; i < members.length; i += 100) {
      const batch: TableTransaction['actions'] = members
        .slice(i, i + 100)
        .map((m) => ['delete', { partitionKey: `g-${groupId}`, rowKey: m.value }]);
      await deleteBatch(this.table, batch);
    }
    return members.length;
  }

  /** Removes the member from every group it is in (when it is deleted). */
  async removeMember(memberId: string): Promise<void> {
    for (const groupId of await this.groupsOf(memberId)) await this.remove(groupId, memberId);
  }
}

/** One transaction of deletes in one partition; rows deleted meanwhile are fine (done one by one then). */
async function deleteBatch(table: TableClient, actions: TableTransaction['actions']): Promise<void> {
  if (actions.length === 0) return;
  try {
    await table.submitTransaction(actions);
  } catch (err) {
    if (!hasStatus(err, 404)) throw err;
    for (const [, e] of actions) await unlessStatus(table.deleteEntity(e.partitionKey, e.rowKey), 404);
  }
}
