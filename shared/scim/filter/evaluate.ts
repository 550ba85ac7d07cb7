/**
 * Evaluates a parsed SCIM filter against a resource, or against one value of a multi-valued
 * complex attribute (the `[...]` of a value path or a PATCH path), per each attribute's type and
 * caseExact rule (RFC 7644 §3.4.2.2).
 */
import { type Attribute, coreAttribute, extensionFor, type ResourceType, subAttribute } from '../schema';
import { asArray, getProperty, isObject } from '../values';
import { type AttrPath, type CompareOp, type Filter, type FilterValue, SUBSTRING_OPS } from './tree';

/** Present per RFC 7644 §3.4.2.2 "pr": has a value that is not null and not empty. */
function isPresent(v: unknown): boolean {
  if (v === undefined || v === null || v === '') return false;
  if (Array.isArray(v)) return v.some(isPresent);
  if (isObject(v)) return Object.values(v).some(isPresent);
  return true;
}

function toBoolean(v: unknown): boolean | undefined {
  if (typeof v === 'boolean') return v;
  if (typeof v === 'string') {
    const l = v.toLowerCase();
    if (l === 'true') return true;
    if (l === 'false') return false;
  }
  return undefined;
}

function ordered(op: CompareOp, a: number | string, b: number | string): boolean {
  switch (op) {
    case 'eq':
      return a === b;
    case 'gt':
      return a > b;
    case 'ge':
      return a >= b;
    case 'lt':
      return a < b;
    case 'le':
      return a <= b;
    default:
      return false;
  }
}

/** One attribute value against the filter's value, per the attribute's type and caseExact (RFC 7644 §3.4.2.2). */
function compareOne(op: CompareOp, actual: unknown, expected: FilterValue, leaf: Attribute): boolean {
  if (actual === undefined || actual === null) return false;
  switch (leaf.type) {
    case 'boolean': {
      const a = toBoolean(actual);
      return op === 'eq' && a !== undefined && a === toBoolean(expected);
    }
    case 'integer':
    case 'decimal': {
      const a = typeof actual === 'number' ? actual : NaN;
      const b = typeof expected === 'number' ? expected : typeof expected === 'string' ? Number(expected) : NaN;
      return !Number.isNaN(a) && !Number.isNaN(b) && ordered(op, a, b);
    }
    case 'dateTime':
      if (typeof actual !== 'string' || typeof expected !== 'string') return false;
      if (!SUBSTRING_OPS.has(op)) {
        // Instants, not strings: "2024-01-01T01:00:00+01:00" eq "2024-01-01T00:00:00Z".
        const a = Date.parse(actual);
        const b = Date.parse(expected);
        return !Number.isNaN(a) && !Number.isNaN(b) && ordered(op, a, b);
      }
      return substring(op, actual.toLowerCase(), expected.toLowerCase());
    default: {
      if (typeof actual !== 'string' || typeof expected !== 'string') return false;
      const a = leaf.caseExact ? actual : actual.toLowerCase();
      const b = leaf.caseExact ? expected : expected.toLowerCase();
      return SUBSTRING_OPS.has(op) ? substring(op, a, b) : ordered(op, a, b);
    }
  }
}

function substring(op: CompareOp, a: string, b: string): boolean {
  if (op === 'co') return a.includes(b);
  if (op === 'sw') return a.startsWith(b);
  return a.endsWith(b);
}

interface Located {
  attribute: Attribute;
  sub?: Attribute;
  value: unknown;
}

/** The attribute definition(s) and raw value a path names, in a resource or (inside brackets) a complex value. */
function locate(path: AttrPath, obj: unknown, type: ResourceType, parent: Attribute | undefined): Located | undefined {
  if (parent) {
    const attribute = subAttribute(parent, path.attribute);
    return attribute && { attribute, value: getProperty(obj, attribute.name) };
  }
  let container: unknown = obj;
  let attribute: Attribute | undefined;
  if (path.extension) {
    const ext = extensionFor(type, path.extension);
    attribute = ext?.attributes.find((a) => a.name.toLowerCase() === path.attribute.toLowerCase());
    container = getProperty(obj, path.extension);
  } else {
    attribute = coreAttribute(type, path.attribute);
  }
  if (!attribute) return undefined;
  const sub = path.sub !== undefined ? subAttribute(attribute, path.sub) : undefined;
  if (path.sub !== undefined && !sub) return undefined;
  return { attribute, sub, value: getProperty(container, attribute.name) };
}

/** The simple values a comparison looks at: every value of a multi-valued attribute, the sub-attribute (or `value`) of complex ones. */
function leafValues(loc: Located): { leaf: Attribute | undefined; values: unknown[] } {
  const { attribute, sub } = loc;
  const items = asArray(loc.value);
  if (attribute.type !== 'complex') return { leaf: attribute, values: items };
  const leaf = sub ?? subAttribute(attribute, 'value');
  if (!leaf) return { leaf: undefined, values: [] };
  return { leaf, values: items.flatMap((el) => asArray(getProperty(el, leaf.name))) };
}

function evaluate(f: Filter, obj: unknown, type: ResourceType, parent: Attribute | undefined): boolean {
  switch (f.kind) {
    case 'and':
      return evaluate(f.left, obj, type, parent) && evaluate(f.right, obj, type, parent);
    case 'or':
      return evaluate(f.left, obj, type, parent) || evaluate(f.right, obj, type, parent);
    case 'not':
      return !evaluate(f.filter, obj, type, parent);
    case 'present': {
      const loc = locate(f.path, obj, type, parent);
      if (!loc) return false;
      if (!loc.sub) return isPresent(loc.value);
      return asArray(loc.value).some((el) => isPresent(getProperty(el, loc.sub!.name)));
    }
    case 'valuePath': {
      const loc = locate(f.path, obj, type, parent);
      if (!loc) return false;
      return asArray(loc.value).some((el) => isObject(el) && evaluate(f.filter, el, type, loc.attribute));
    }
    case 'compare': {
      const loc = locate(f.path, obj, type, parent);
      if (!loc) return false;
      const { leaf, values } = leafValues(loc);
      if (!leaf) return false;
      const present = values.filter((v) => v !== undefined && v !== null);
      // `eq null` matches an unassigned attribute (RFC 7644 §3.4.2.2 allows null as compValue;
      // unassigned and null are the same, RFC 7643 §2.5). `ne` is the negation of `eq`, so
      // `title ne "x"` matches a user without a title, and a multi-valued attribute matches `ne`
      // only when none of its values is equal.
      const eq = (): boolean => (f.value === null ? present.length === 0 : present.some((v) => compareOne('eq', v, f.value, leaf)));
      if (f.op === 'eq') return eq();
      if (f.op === 'ne') return !eq();
      if (f.value === null) return false;
      return present.some((v) => compareOne(f.op, v, f.value, leaf));
    }
  }
}

/**
 * Whether `resource` (a full resource: id, meta.created/lastModified as ISO strings, group members
 * as [{value,type}] when present) matches the filter. Attribute names match case-insensitively.
 */
export function matches(filter: Filter, resource: Record<string, unknown>, type: ResourceType): boolean {
  return evaluate(filter, resource, type, undefined);
}

/**
 * Whether one value of a multi-valued complex attribute (an element of `emails`, `members`...)
 * matches a value filter, as parsed in `attr[filter]` or by `parsePatchPath`.
 */
export function matchesValue(filter: Filter, element: unknown, attribute: Attribute, type: ResourceType): boolean {
  return isObject(element) && evaluate(filter, element, type, attribute);
}
