/**
 * SCIM filters (RFC 7644 §3.4.2.2) and PATCH paths (RFC 7644 §3.5.2): parse.ts (a small
 * recursive-descent parser with limits), evaluate.ts (whether a resource or a value matches) and
 * lookup.ts (the point-read recogniser the service uses to avoid table scans). The rest of
 * shared/scim imports filters from here.
 */
export { matches, matchesValue } from './evaluate';
export { equalityLookup } from './lookup';
export { FILTER_LIMITS, parseFilter, parsePatchPath } from './parse';
export type { AttrPath, CompareOp, Filter, FilterValue, PatchPath } from './tree';
