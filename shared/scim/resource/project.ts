/**
 * Projection of SCIM resources: `project` applies `attributes`/`excludedAttributes` (RFC 7644
 * §3.4.2.5, §3.9) to what the service returns, and `parseAttributeList` reads those two query
 * parameters.
 */
import { badRequest } from '../errors';
import { type Attribute, byName, coreAttribute, extensionFor, resolvePath, type ResourceType, subAttribute } from '../schema';
import { isObject, quoteName } from '../values';

export interface ProjectOptions {
  attributes?: string[];
  excludedAttributes?: string[];
}

/** Attributes named by an attributes/excludedAttributes list: `scope|attr` → all of it, or some sub-attributes. */
interface Selection {
  /** Extension URNs named as a whole. */
  whole: Set<string>;
  attrs: Map<string, 'all' | Set<string>>;
}

function selection(names: readonly string[], type: ResourceType): Selection {
  const sel: Selection = { whole: new Set(), attrs: new Map() };
  for (const name of names) {
    const ext = extensionFor(type, name);
    if (ext) {
      sel.whole.add(ext.id);
      continue;
    }
    const r = resolvePath(type, name);
    if (!r) continue; // unknown names are ignored (RFC 7644 §3.4.2.5 gives no error for them)
    const key = `${r.extension ?? ''}|${r.attribute.name}`;
    const cur = sel.attrs.get(key);
    if (!r.sub) sel.attrs.set(key, 'all');
    else if (cur !== 'all') sel.attrs.set(key, (cur ?? new Set<string>()).add(r.sub.name));
  }
  return sel;
}

/**
 * Applies `attributes` / `excludedAttributes` (RFC 7644 §3.4.2.5, §3.9) to a full resource.
 * - `attributes`: only the named attributes, plus `schemas` and `returned: always` ones (`id`);
 *   `meta` is `returned: default`, so it is left out unless named (as in RFC 7644 §3.9's example).
 * - `excludedAttributes`: everything returned by default but the named ones; never `id`/`schemas`.
 * - Names are case-insensitive; `name.givenName` and `urn:...:User:department` select parts; an
 *   extension URN selects the whole extension; unknown names are ignored.
 * - `returned: never` (password) is never output; `returned: request` only when named.
 * If both lists are given, `attributes` is applied and then `excludedAttributes` removes from it.
 */
export function project(resource: Record<string, unknown>, type: ResourceType, options: ProjectOptions = {}): Record<string, unknown> {
  const include = options.attributes && options.attributes.length > 0 ? selection(options.attributes, type) : undefined;
  const exclude =
    options.excludedAttributes && options.excludedAttributes.length > 0 ? selection(options.excludedAttributes, type) : undefined;
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(resource)) {
    const value = resource[key];
    if (key.toLowerCase() === 'schemas') {
      out.schemas = value;
      continue;
    }
    const ext = extensionFor(type, key);
    if (ext) {
      if (!isObject(value)) continue;
      const part: Record<string, unknown> = {};
      for (const k of Object.keys(value)) {
        const attr = byName(ext.attributes, k);
        if (!attr) continue;
        const v = projectAttribute(ext.id, attr, value[k], include, exclude);
        if (v !== undefined) part[attr.name] = v;
      }
      if (Object.keys(part).length > 0) out[ext.id] = part;
      continue;
    }
    const attr = coreAttribute(type, key);
    if (!attr) continue; // not an attribute of the schema: never returned
    const v = projectAttribute('', attr, value, include, exclude);
    if (v !== undefined) out[attr.name] = v;
  }
  return out;
}

function projectAttribute(
  scope: string,
  attr: Attribute,
  value: unknown,
  include: Selection | undefined,
  exclude: Selection | undefined,
): unknown {
  const returned = attr.returned ?? 'default';
  if (returned === 'never' || value === undefined) return undefined;
  if (returned === 'always') return value;
  const key = `${scope}|${attr.name}`;
  let keep: 'all' | Set<string> | undefined = returned === 'request' ? undefined : 'all';
  if (include) keep = scope && include.whole.has(scope) ? 'all' : include.attrs.get(key);
  if (!keep) return undefined;
  let drop: Set<string> | undefined;
  if (exclude) {
    if (scope && exclude.whole.has(scope)) return undefined;
    const ex = exclude.attrs.get(key);
    if (ex === 'all') return undefined;
    drop = ex;
  }
  if (attr.type !== 'complex') return value;
  const pick = (el: unknown): Record<string, unknown> | undefined => {
    if (!isObject(el)) return undefined;
    const part: Record<string, unknown> = {};
    for (const k of Object.keys(el)) {
      const sub = subAttribute(attr, k);
      if (!sub) continue;
      const r = sub.returned ?? 'default';
      if (r === 'never') continue;
      if (r !== 'always' && ((keep !== 'all' && !keep.has(sub.name)) || drop?.has(sub.name))) continue;
      part[sub.name] = el[k];
    }
    return Object.keys(part).length > 0 ? part : undefined;
  };
  if (Array.isArray(value)) {
    const items = value.map(pick).filter((v): v is Record<string, unknown> => v !== undefined);
    return items.length > 0 ? items : undefined;
  }
  return pick(value);
}

/**
 * RFC 7644 §3.10 attribute notation: `[schema URN ":"] attrName ["." subAttr]`, names of letters,
 * digits, '-', '_' (and `$ref`); a URN adds ':' and '.'. No filter, no space, no quote.
 */
const ATTRIBUTE_NOTATION = /^[A-Za-z0-9:._$-]+$/;

/**
 * The comma-separated `attributes` / `excludedAttributes` query parameter (RFC 7644 §3.4.2.5);
 * undefined when absent or empty. `parameter` names it in errors. A name that is not attribute
 * notation (a value filter such as `emails[type eq "work"]`) is refused with 400 invalidValue
 * rather than ignored: it would otherwise silently return something else than asked for. A
 * well-formed name of no known attribute is ignored, as the RFC gives no error for it.
 */
export function parseAttributeList(param: string | null | undefined, parameter = 'attributes'): string[] | undefined {
  if (param === null || param === undefined) return undefined;
  const names = param
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0)
    .slice(0, 200);
  const bad = names.find((n) => !ATTRIBUTE_NOTATION.test(n));
  if (bad !== undefined) {
    throw badRequest(
      'invalidValue',
      `${parameter}: ${quoteName(bad, 120)} is not an attribute name. ${parameter} takes attribute names in RFC 7644 §3.10 notation (such as emails or emails.value), without filters.`,
    );
  }
  return names.length > 0 ? names : undefined;
}
