/**
 * SCIM PATCH (RFC 7644 §3.5.2): apply.ts reads the operations and applies them, target.ts resolves
 * their paths, attributes.ts changes attribute values and members.ts collects a group's member
 * changes. The rest of shared/scim imports PATCH from here.
 */
export { applyPatch, PATCH_LIMITS, type PatchResult } from './apply';
export type { MemberChanges } from './members';
