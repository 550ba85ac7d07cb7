/**
 * The parsed form of SCIM filters (RFC 7644 §3.4.2.2) and PATCH paths (RFC 7644 §3.5.2), as
 * parse.ts produces them and evaluate.ts and lookup.ts read them, and the comparison operators.
 */
export type CompareOp = 'eq' | 'ne' | 'co' | 'sw' | 'ew' | 'gt' | 'ge' | 'lt' | 'le';
export type FilterValue = string | number | boolean | null;

/**
 * An attribute path with the schema's canonical names. At the top level `attribute` is an attribute of
 * the resource type (`extension` set for an extension's attribute); inside a value path's brackets
 * `attribute` is a sub-attribute of the bracketed attribute and `extension`/`sub` are unset.
 */
export interface AttrPath {
  extension?: string;
  attribute: string;
  sub?: string;
}

export type Filter =
  | { kind: 'compare'; path: AttrPath; op: CompareOp; value: FilterValue }
  | { kind: 'present'; path: AttrPath }
  | { kind: 'and' | 'or'; left: Filter; right: Filter }
  | { kind: 'not'; filter: Filter }
  /** `attr[filter]`: some value of the (complex) attribute matches `filter`, whose paths are its sub-attributes. */
  | { kind: 'valuePath'; path: AttrPath; filter: Filter };

/** A PATCH operation's target (RFC 7644 §3.5.2 PATH = attrPath / valuePath [subAttr]). */
export interface PatchPath {
  extension?: string;
  attribute: string;
  /** The sub-attribute: `name.givenName`, or the `value` of `emails[type eq "work"].value`. */
  sub?: string;
  /** The value selection filter of `attr[filter]`, over the attribute's sub-attributes. */
  filter?: Filter;
}

/** The comparison operators (RFC 7644 §3.4.2.2), and the ordering and substring ones, which take only some values. */
export const COMPARE_OPS: ReadonlySet<string> = new Set(['eq', 'ne', 'co', 'sw', 'ew', 'gt', 'ge', 'lt', 'le']);
export const ORDERING_OPS: ReadonlySet<string> = new Set(['gt', 'ge', 'lt', 'le']);
export const SUBSTRING_OPS: ReadonlySet<string> = new Set(['co', 'sw', 'ew']);
