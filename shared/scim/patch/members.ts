/**
 * PATCH operations on a group's members: collected as MemberChanges for the service's membership
 * rows, never written into the resource.
 */
import { badRequest } from '../errors';
import type { Filter } from '../filter';
import { RESOURCE_LIMITS, validateMembers, type MemberRef } from '../resource';
import type { Op, Target } from './target';

/**
 * Membership changes of a group PATCH, to apply in this order: `removeAll`, then `remove`, then
 * `add`. `add` and `remove` are kept disjoint so that order reproduces the operations' sequence.
 */
export interface MemberChanges {
  removeAll?: boolean;
  add: MemberRef[];
  remove: string[];
}

/** The membership changes of one PATCH, in the order of its operations. */
export class MemberPatch {
  private readonly state = { removeAll: false, add: new Map<string, MemberRef>(), remove: new Set<string>() };
  private memberCount = 0;

  changes(): MemberChanges {
    const m = this.state;
    return { ...(m.removeAll ? { removeAll: true } : {}), add: [...m.add.values()], remove: [...m.remove] };
  }

  apply(op: Op, t: Target, value: unknown): void {
    if (t.sub) throw badRequest('invalidPath', 'members are added and removed whole: use "members" or members[value eq "<id>"].');
    const m = this.state;
    const count = (n: number): void => {
      this.memberCount += n;
      if (this.memberCount > RESOURCE_LIMITS.maxMembers) {
        throw badRequest('invalidValue', `more than ${RESOURCE_LIMITS.maxMembers} member changes in one PATCH; send them in several.`);
      }
    };
    const add = (refs: MemberRef[]): void => {
      count(refs.length);
      for (const r of refs) {
        m.remove.delete(r.value);
        m.add.set(r.value, { ...m.add.get(r.value), ...r });
      }
    };
    const remove = (ids: string[]): void => {
      count(ids.length);
      for (const id of ids) {
        m.add.delete(id);
        m.remove.add(id);
      }
    };
    const removeAll = (): void => {
      m.removeAll = true;
      m.add.clear();
      m.remove.clear();
    };

    if (op === 'remove') {
      if (t.filter) {
        const ids = memberIds(t.filter);
        if (!ids)
          throw badRequest(
            'invalidFilter',
            'members can only be removed by id: members[value eq "<id>"] (several may be joined with "or").',
          );
        remove(ids);
      } else if (value !== undefined && value !== null) {
        // Entra's default dialect: {"op":"Remove","path":"members","value":[{"value":"<id>"}]}.
        remove(validateMembers(value).map((r) => r.value));
      } else {
        // RFC 7644 §3.5.2.2: removing a multi-valued attribute without a filter removes all its values.
        removeAll();
      }
      return;
    }
    if (t.filter)
      throw badRequest('invalidPath', `"${op}" takes "members" with a value array; only "remove" takes members[value eq "<id>"].`);
    const refs = validateMembers(value);
    // RFC 7644 §3.5.2.3: replacing a multi-valued attribute without a filter replaces all its values.
    if (op === 'replace') removeAll();
    add(refs);
  }
}

/** `value eq "a"` or `value eq "a" or value eq "b"` → ["a", "b"]. */
function memberIds(f: Filter): string[] | undefined {
  if (f.kind === 'compare' && f.op === 'eq' && f.path.attribute === 'value' && typeof f.value === 'string') return [f.value];
  if (f.kind === 'or') {
    const l = memberIds(f.left);
    const r = memberIds(f.right);
    return l && r ? [...l, ...r] : undefined;
  }
  return undefined;
}
