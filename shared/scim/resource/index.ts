/**
 * SCIM resource bodies (RFC 7643) in and out: validate.ts (what a POST, PUT or PATCH may store)
 * and project.ts (what a response returns of it). The rest of shared/scim imports resources from
 * here.
 */
export { parseAttributeList, project, type ProjectOptions } from './project';
export { normaliseValue, RESOURCE_LIMITS, validateMembers, validateResource, type MemberRef, type ValidatedResource } from './validate';
