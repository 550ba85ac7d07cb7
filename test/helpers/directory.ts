/** Reading the directory store in tests, where production code has no need to. */
import type { DirectoryMembers } from '../../shared/storage';

/** True when `memberId` is a direct member of the group (its row in the group's partition). */
export async function hasMember(members: Pick<DirectoryMembers, 'list'>, groupId: string, memberId: string): Promise<boolean> {
  for await (const m of members.list(groupId)) if (m.value === memberId) return true;
  return false;
}
