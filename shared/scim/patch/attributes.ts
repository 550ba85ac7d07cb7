/**
 * PATCH operations on the attributes a resource stores (everything but a group's members): a whole
 * attribute, a sub-attribute, or the values a value filter selects, with RFC 7644 §3.5.2's rules
 * for adding to multi-valued attributes, clearing with null, and "primary".
 */
import { badRequest } from '../errors';
import { matchesValue, type Filter } from '../filter';
import { normaliseValue } from '../resource';
import { type Attribute, ENTERPRISE_USER, type ResourceType, subAttribute } from '../schema';
import { asArray, isObject, quoteName } from '../values';
import type { Op, Target } from './target';

const MANAGER = ENTERPRISE_USER.attributes.find((a) => a.name === 'manager')!;

/** Applies an add, replace or remove to the attribute `t` names in `root` (the resource being patched). */
export function applyToAttribute(root: Record<string, unknown>, type: ResourceType, op: Op, t: Target, value: unknown): void {
  if (t.filter) return filtered(root, type, op, t, value);
  if (t.sub) return subOp(root, op, t, value);
  return attributeOp(root, op, t, value);
}

/** The object holding the target attribute: the resource, or its extension object (created when writing). */
function container(root: Record<string, unknown>, t: Target, create: boolean): Record<string, unknown> | undefined {
  if (!t.ext) return root;
  let c = root[t.ext.id];
  if (!isObject(c)) {
    if (!create) return undefined;
    c = {};
    root[t.ext.id] = c;
  }
  return c as Record<string, unknown>;
}

function tidy(root: Record<string, unknown>, t: Target): void {
  if (t.ext && isObject(root[t.ext.id]) && Object.keys(root[t.ext.id] as object).length === 0) delete root[t.ext.id];
}

/** The whole attribute: `active`, `emails`, `name`, `urn:...:manager`. */
function attributeOp(root: Record<string, unknown>, op: Op, t: Target, value: unknown): void {
  const { attribute } = t;
  const name = attribute.name;
  if (op === 'remove') {
    const c = container(root, t, false);
    if (!c) return;
    if (attribute.multiValued && attribute.type === 'complex' && value !== undefined && value !== null) {
      // `{"op":"remove","path":"emails","value":[{"value":"x"}]}`: remove just those values (the
      // shape Entra's default dialect uses for members, accepted for any multi-valued attribute).
      const gone = asArray(normaliseValue(attribute, asArray(value), t.label));
      const kept = asArray(c[name]).filter((el) => !gone.some((g) => sameElement(g, el, attribute)));
      if (kept.length > 0) c[name] = kept;
      else delete c[name];
    } else {
      delete c[name];
    }
    tidy(root, t);
    return;
  }
  const incoming = attribute.multiValued && isObject(value) ? [value] : value;
  const v = normaliseValue(attribute, incoming, t.label);
  const c = container(root, t, true)!;
  if (v === undefined) {
    // null, [] or {}: "unassigned" (RFC 7643 §2.5) — a replace clears, an add changes nothing.
    if (op === 'replace') delete c[name];
    tidy(root, t);
    return;
  }
  if (attribute.multiValued) {
    if (op === 'replace') {
      c[name] = v;
      return;
    }
    // RFC 7644 §3.5.2.1: values are added to the existing ones; a value already there is not repeated.
    const existing = asArray(c[name]);
    const added = (v as unknown[]).filter((n) => !existing.some((e) => deepEqual(e, n)));
    c[name] = [...existing, ...added];
    clearOtherPrimaries(c[name] as unknown[], added);
    return;
  }
  if (attribute.type === 'complex' && attribute !== MANAGER && isObject(c[name])) {
    // RFC 7644 §3.5.2.1/§3.5.2.3: sub-attributes given replace, those not given are left unchanged.
    c[name] = { ...(c[name] as object), ...(v as object) };
    return;
  }
  c[name] = v;
}

/** `name.givenName`, `urn:...:manager.value`, or `emails.value` (every value of a multi-valued attribute). */
function subOp(root: Record<string, unknown>, op: Op, t: Target, value: unknown): void {
  const { attribute } = t;
  const sub = t.sub!;
  const name = attribute.name;
  const c = container(root, t, op !== 'remove');
  if (!c) return;
  if (!attribute.multiValued) {
    const cur = isObject(c[name]) ? c[name] : undefined;
    const v = op === 'remove' ? undefined : normaliseValue(sub, value, t.label);
    if (v === undefined) {
      if (cur) {
        delete cur[sub.name];
        if (Object.keys(cur).length === 0) delete c[name];
      }
    } else {
      c[name] = { ...cur, [sub.name]: v };
    }
    tidy(root, t);
    return;
  }
  const items = asArray(c[name]).filter(isObject);
  const v = op === 'remove' ? undefined : normaliseValue(sub, value, t.label);
  if (v === undefined) {
    for (const el of items) delete el[sub.name];
  } else if (items.length === 0) {
    items.push({ [sub.name]: v });
  } else {
    for (const el of items) el[sub.name] = v;
  }
  const kept = items.filter((el) => Object.keys(el).length > 0);
  if (kept.length > 0) c[name] = kept;
  else delete c[name];
  tidy(root, t);
}

/** `emails[type eq "work"]` or `emails[type eq "work"].value` (RFC 7644 §3.5.2, valuePath [subAttr]). */
function filtered(root: Record<string, unknown>, type: ResourceType, op: Op, t: Target, value: unknown): void {
  const { attribute, sub } = t;
  const name = attribute.name;
  const c = container(root, t, op !== 'remove');
  if (!c) return;
  const items = asArray(c[name]).filter(isObject);
  const hit = items.filter((el) => matchesValue(t.filter!, el, attribute, type));
  const store = (list: Record<string, unknown>[]): void => {
    if (list.length === 0) delete c[name];
    else c[name] = attribute.multiValued ? list : list[0];
    tidy(root, t);
  };

  if (op === 'remove') {
    // Nothing matching is not an error: Entra retries, and removing twice must succeed.
    if (hit.length === 0) return;
    if (sub) {
      for (const el of hit) delete el[sub.name];
      store(items.filter((el) => Object.keys(el).length > 0));
    } else {
      store(items.filter((el) => !hit.includes(el)));
    }
    return;
  }

  const element = (el: unknown): Record<string, unknown> | undefined => {
    const v = normaliseValue(attribute, attribute.multiValued ? [el] : el, t.label);
    return (Array.isArray(v) ? v[0] : v) as Record<string, unknown> | undefined;
  };
  const subValue = sub ? normaliseValue(sub, value, t.label) : undefined;
  if (!sub && value !== null && !isObject(value))
    throw badRequest('invalidValue', `the value for ${quoteName(t.label)} must be an object of ${name} sub-attributes.`);

  if (hit.length === 0) {
    // Entra adds a work e-mail with `{"op":"add"/"replace","path":"emails[type eq \"work\"].value"}`
    // when the user has none: a filter made of `sub eq value` comparisons names the element to
    // create. Any other filter with no match is RFC 7644 §3.5.2.3's noTarget.
    const seed = attribute.multiValued ? seedOf(t.filter!) : undefined;
    if (!seed) throw badRequest('noTarget', `no value of "${name}" matches the filter in ${quoteName(t.label)}.`);
    if (sub ? subValue === undefined : value === null) return;
    const created = element(sub ? { ...seed, [sub.name]: subValue } : { ...seed, ...(value as object) });
    if (!created) return;
    items.push(created);
    clearOtherPrimaries(items, [created]);
    store(items);
    return;
  }

  const touched: Record<string, unknown>[] = [];
  const next = items.map((el) => {
    if (!hit.includes(el)) return el;
    let updated: Record<string, unknown> | undefined;
    if (sub) {
      updated = { ...el };
      if (subValue === undefined) delete updated[sub.name];
      else updated[sub.name] = subValue;
      if (Object.keys(updated).length === 0) updated = undefined;
    } else if (value === null) {
      updated = undefined;
    } else {
      // RFC 7644 §3.5.2.3: a replace with a value filter replaces the matching values; an add merges into them.
      updated = element(op === 'replace' ? value : { ...el, ...(element(value) ?? {}) });
    }
    if (updated) touched.push(updated);
    return updated;
  });
  const list = next.filter((el): el is Record<string, unknown> => el !== undefined);
  clearOtherPrimaries(list, touched);
  store(list);
}

/** The element a filter of `sub eq value` comparisons joined by `and` describes, e.g. {type: "work"}. */
function seedOf(f: Filter): Record<string, unknown> | undefined {
  if (f.kind === 'compare' && f.op === 'eq' && f.value !== null) return { [f.path.attribute]: f.value };
  if (f.kind === 'and') {
    const l = seedOf(f.left);
    const r = seedOf(f.right);
    if (!l || !r || Object.keys(l).some((k) => k in r)) return undefined;
    return { ...l, ...r };
  }
  return undefined;
}

/** RFC 7644 §3.5.2: setting "primary" true on a value sets it false on the attribute's other values. */
function clearOtherPrimaries(items: unknown[], touched: unknown[]): void {
  if (!touched.some((el) => isObject(el) && el.primary === true)) return;
  const winner = [...touched].reverse().find((el) => isObject(el) && el.primary === true);
  for (const el of items) if (el !== winner && isObject(el) && el.primary === true) el.primary = false;
}

/** Whether a value named in a remove (`{"value": "x"}`) designates an element: each sub-attribute it gives is equal. */
function sameElement(given: unknown, el: unknown, attribute: Attribute): boolean {
  if (!isObject(given) || !isObject(el)) return false;
  const keys = Object.keys(given);
  return (
    keys.length > 0 &&
    keys.every((k) => {
      const a = given[k];
      const b = el[k];
      const sub = subAttribute(attribute, k);
      if (typeof a === 'string' && typeof b === 'string' && !sub?.caseExact) return a.toLowerCase() === b.toLowerCase();
      return a === b;
    })
  );
}

function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((x, i) => deepEqual(x, b[i]));
  if (isObject(a) && isObject(b)) {
    const ka = Object.keys(a);
    return ka.length === Object.keys(b).length && ka.every((k) => Object.prototype.hasOwnProperty.call(b, k) && deepEqual(a[k], b[k]));
  }
  return false;
}
