/**
 * SCIM PATCH (RFC 7644 §3.5.2) on a stored resource, in both of Microsoft Entra's dialects:
 *
 * - the default one: ops "Add"/"Replace"/"Remove" (any case), booleans as "True"/"False",
 *   members removed with `{"op":"Remove","path":"members","value":[{"value":"id"}]}`;
 * - the compliant one (`aadOptscim062020`): lower-case ops, real booleans, members removed with
 *   `{"op":"remove","path":"members[value eq \"id\"]"}`, and path-less `replace`/`add` whose value
 *   object has dotted keys (`name.givenName`), value-path keys (`emails[type eq "work"].value`) and
 *   URN-qualified keys (`urn:...:enterprise:2.0:User:department`).
 *
 * The patch works on a copy; nothing is changed unless every operation applies (RFC 7644 §3.5.2:
 * a PATCH is atomic). Group members are never written into the resource: their changes are
 * returned as `MemberChanges` for the service's membership rows. The result goes through
 * `validateResource`, so a PATCH can never store something a POST could not.
 */
import { badRequest, isScimError, ScimError } from './errors';
import { matchesValue, parsePatchPath, type Filter } from './filter';
import { getProperty, quoteName } from './values';
import { normaliseValue, RESOURCE_LIMITS, validateMembers, validateResource, type MemberRef } from './resource';
import {
  type Attribute,
  coreAttribute,
  ENTERPRISE_USER,
  extensionFor,
  PATCH_OP,
  type ResourceType,
  type Schema,
  subAttribute,
} from './schema';

export const PATCH_LIMITS = {
  /** Operations in one PATCH (ServiceProviderConfig has no such field; Entra sends a handful). */
  maxOperations: 1000,
} as const;

/**
 * Membership changes of a group PATCH, to apply in this order: `removeAll`, then `remove`, then
 * `add`. `add` and `remove` are kept disjoint so that order reproduces the operations' sequence.
 */
export interface MemberChanges {
  removeAll?: boolean;
  add: MemberRef[];
  remove: string[];
}

export interface PatchResult {
  resource: Record<string, unknown>;
  /** Set when an operation touched a group's `members`. */
  members?: MemberChanges;
}

type Op = 'add' | 'replace' | 'remove';

interface Target {
  ext?: Schema;
  attribute: Attribute;
  sub?: Attribute;
  filter?: Filter;
  /** The path as the client wrote it, for error details. */
  label: string;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const asArray = (v: unknown): unknown[] => (Array.isArray(v) ? v : v === undefined || v === null ? [] : [v]);
const MANAGER = ENTERPRISE_USER.attributes.find((a) => a.name === 'manager')!;
const clip = (s: string): string => (s.length > 80 ? s.slice(0, 80) + '…' : s).replace(/[^\x20-\x7e]/g, '?');

/**
 * Applies a PatchOp message to `resource` (as stored: canonical names, no id/meta/members) and
 * returns the new resource to store and, for a group, the membership changes. Throws a 400
 * ScimError (invalidSyntax, invalidPath, invalidValue, invalidFilter, mutability, noTarget) naming
 * the operation when anything cannot be applied; the input is never modified.
 */
export function applyPatch(resource: Record<string, unknown>, body: unknown, type: ResourceType): PatchResult {
  if (!isObject(body))
    throw badRequest('invalidSyntax', `The body of a PATCH must be a JSON object: {"schemas": ["${PATCH_OP}"], "Operations": [...]}.`);
  const schemas = getProperty(body, 'schemas');
  if (!Array.isArray(schemas) || !schemas.some((s) => typeof s === 'string' && s.toLowerCase() === PATCH_OP.toLowerCase())) {
    throw badRequest('invalidSyntax', `A PATCH body's "schemas" must be ["${PATCH_OP}"].`);
  }
  const operations = getProperty(body, 'Operations');
  if (!Array.isArray(operations))
    throw badRequest('invalidSyntax', 'A PATCH body needs "Operations": an array of {"op", "path", "value"}.');
  if (operations.length === 0) throw badRequest('invalidSyntax', '"Operations" is empty: send at least one operation.');
  if (operations.length > PATCH_LIMITS.maxOperations) {
    throw badRequest('invalidSyntax', `${operations.length} operations in one PATCH; send at most ${PATCH_LIMITS.maxOperations}.`);
  }

  const patcher = new Patcher(structuredClone(resource), type);
  operations.forEach((raw, i) => patcher.apply(raw, i));
  const { resource: result } = validateResource(patcher.resource, type, 'replace');
  return patcher.members ? { resource: result, members: patcher.memberChanges() } : { resource: result };
}

class Patcher {
  members?: { removeAll: boolean; add: Map<string, MemberRef>; remove: Set<string> };
  private memberCount = 0;

  constructor(
    readonly resource: Record<string, unknown>,
    private readonly type: ResourceType,
  ) {
    // Members live in their own rows; a stray copy in the resource must not be patched or stored.
    if (type.name === 'Group') delete resource.members;
  }

  memberChanges(): MemberChanges {
    const m = this.members!;
    return { ...(m.removeAll ? { removeAll: true } : {}), add: [...m.add.values()], remove: [...m.remove] };
  }

  apply(raw: unknown, index: number): void {
    let described = `Operation ${index + 1}`;
    try {
      if (!isObject(raw)) throw badRequest('invalidSyntax', 'each operation must be an object {"op", "path", "value"}.');
      const opName = getProperty(raw, 'op');
      const op = typeof opName === 'string' ? opName.toLowerCase() : undefined;
      // Entra's default dialect capitalises ops ("Add", "Replace", "Remove"); RFC 7644 §3.5.2 uses lower case.
      if (op !== 'add' && op !== 'replace' && op !== 'remove') {
        throw badRequest(
          'invalidSyntax',
          `"op" must be "add", "replace" or "remove"${typeof opName === 'string' ? `, not ${quoteName(opName)}` : ''}.`,
        );
      }
      const path = getProperty(raw, 'path');
      if (path !== undefined && path !== null && typeof path !== 'string') throw badRequest('invalidPath', '"path" must be a string.');
      const hasValue = Object.keys(raw).some((k) => k.toLowerCase() === 'value');
      const value = getProperty(raw, 'value');
      described += ` (${op}${typeof path === 'string' ? ' ' + clip(path) : ''})`;

      if (typeof path !== 'string' || path.trim() === '') {
        // RFC 7644 §3.5.2.2: "If 'path' is unspecified, the operation fails with ... noTarget."
        if (op === 'remove') throw badRequest('noTarget', 'a "remove" needs a "path" naming what to remove.');
        if (!hasValue) throw badRequest('invalidSyntax', `an "${op}" needs a "value".`);
        if (!isObject(value)) throw badRequest('invalidValue', `an "${op}" without a "path" needs a "value" object of attributes.`);
        this.pathless(op, value);
        return;
      }
      if (op !== 'remove' && !hasValue) throw badRequest('invalidSyntax', `an "${op}" needs a "value".`);
      const ext = extensionFor(this.type, path.trim());
      if (ext) this.wholeExtension(op, ext, value, path);
      else this.applyTo(op, this.target(path), value);
    } catch (e) {
      if (isScimError(e) && e.status === 400) throw new ScimError(400, e.scimType, `${described}: ${e.message}`);
      throw e;
    }
  }

  private target(path: string): Target {
    const p = parsePatchPath(path, this.type);
    const ext = p.extension ? extensionFor(this.type, p.extension) : undefined;
    // parsePatchPath resolved the names against the schema, so these lookups cannot miss.
    const attribute = ext ? ext.attributes.find((a) => a.name === p.attribute)! : coreAttribute(this.type, p.attribute)!;
    const sub = p.sub !== undefined ? subAttribute(attribute, p.sub) : undefined;
    return { ext, attribute, sub, filter: p.filter, label: path };
  }

  /**
   * A path-less add/replace: each key of the value object is a path of its own (RFC 7644 §3.5.2.1
   * lists attribute names; Entra's compliant dialect also sends `name.givenName`,
   * `emails[type eq "work"].value` and URN-qualified names as keys). readOnly attributes in the
   * object (`id`, which Entra and others echo back in group updates) are ignored, as in a PUT
   * (RFC 7644 §3.5.1); an explicit path to one is a `mutability` error instead.
   */
  private pathless(op: Op, value: Record<string, unknown>): void {
    for (const key of Object.keys(value)) {
      const v = value[key];
      if (key.toLowerCase() === 'schemas') continue;
      const ext = extensionFor(this.type, key);
      if (ext) {
        this.wholeExtension(op, ext, v, key);
        continue;
      }
      const t = this.target(key);
      if (t.attribute.mutability === 'readOnly' || t.sub?.mutability === 'readOnly') continue;
      this.applyTo(op, t, v);
    }
  }

  /** A path that is an extension's URN: its value is an object of that extension's attributes. */
  private wholeExtension(op: Op, ext: Schema, value: unknown, label: string): void {
    if (op === 'remove') {
      delete this.resource[ext.id];
      return;
    }
    if (value === null) {
      if (op === 'replace') delete this.resource[ext.id];
      return;
    }
    if (!isObject(value))
      throw badRequest('invalidValue', `the value for ${quoteName(label)} must be an object of ${ext.name} attributes.`);
    for (const key of Object.keys(value)) {
      const attribute = ext.attributes.find((a) => a.name.toLowerCase() === key.toLowerCase());
      if (!attribute) throw badRequest('invalidPath', `unknown attribute ${quoteName(key)} in ${ext.id}.`);
      this.applyTo(op, { ext, attribute, label: `${ext.id}:${attribute.name}` }, value[key]);
    }
  }

  private applyTo(op: Op, t: Target, value: unknown): void {
    if (t.attribute.mutability === 'readOnly' || t.sub?.mutability === 'readOnly') {
      throw badRequest('mutability', `${quoteName(t.label)} is read-only and cannot be changed.`);
    }
    if (this.type.name === 'Group' && !t.ext && t.attribute.name === 'members') return this.membersOp(op, t, value);
    if (t.filter) return this.filtered(op, t, value);
    if (t.sub) return this.subOp(op, t, value);
    return this.attributeOp(op, t, value);
  }

  /** The object holding the target attribute: the resource, or its extension object (created when writing). */
  private container(t: Target, create: boolean): Record<string, unknown> | undefined {
    if (!t.ext) return this.resource;
    let c = this.resource[t.ext.id];
    if (!isObject(c)) {
      if (!create) return undefined;
      c = {};
      this.resource[t.ext.id] = c;
    }
    return c as Record<string, unknown>;
  }

  private tidy(t: Target): void {
    if (t.ext && isObject(this.resource[t.ext.id]) && Object.keys(this.resource[t.ext.id] as object).length === 0)
      delete this.resource[t.ext.id];
  }

  /** The whole attribute: `active`, `emails`, `name`, `urn:...:manager`. */
  private attributeOp(op: Op, t: Target, value: unknown): void {
    const { attribute } = t;
    const name = attribute.name;
    if (op === 'remove') {
      const c = this.container(t, false);
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
      this.tidy(t);
      return;
    }
    const incoming = attribute.multiValued && isObject(value) ? [value] : value;
    const v = normaliseValue(attribute, incoming, t.label);
    const c = this.container(t, true)!;
    if (v === undefined) {
      // null, [] or {}: "unassigned" (RFC 7643 §2.5) — a replace clears, an add changes nothing.
      if (op === 'replace') delete c[name];
      this.tidy(t);
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
  private subOp(op: Op, t: Target, value: unknown): void {
    const { attribute } = t;
    const sub = t.sub!;
    const name = attribute.name;
    const c = this.container(t, op !== 'remove');
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
      this.tidy(t);
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
    this.tidy(t);
  }

  /** `emails[type eq "work"]` or `emails[type eq "work"].value` (RFC 7644 §3.5.2, valuePath [subAttr]). */
  private filtered(op: Op, t: Target, value: unknown): void {
    const { attribute, sub } = t;
    const name = attribute.name;
    const c = this.container(t, op !== 'remove');
    if (!c) return;
    const items = asArray(c[name]).filter(isObject);
    const hit = items.filter((el) => matchesValue(t.filter!, el, attribute, this.type));
    const store = (list: Record<string, unknown>[]): void => {
      if (list.length === 0) delete c[name];
      else c[name] = attribute.multiValued ? list : list[0];
      this.tidy(t);
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

  /** Group members: handed back as MemberChanges, never written into the resource. */
  private membersOp(op: Op, t: Target, value: unknown): void {
    if (t.sub) throw badRequest('invalidPath', 'members are added and removed whole: use "members" or members[value eq "<id>"].');
    const m = (this.members ??= { removeAll: false, add: new Map<string, MemberRef>(), remove: new Set<string>() });
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
