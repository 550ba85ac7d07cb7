/**
 * Validation of SCIM resource bodies (RFC 7643): `validateResource` turns a POST/PUT body (or a
 * patched resource) into what the service stores; `normaliseValue` and `validateMembers` check one
 * attribute's value and a group's members.
 *
 * What is stored: a plain object with the schema's canonical attribute names (names are
 * case-insensitive on the wire, RFC 7643 §2.1), values as sent (except booleans sent as the strings
 * "True"/"False" — Entra's default dialect — which become booleans, and the enterprise manager,
 * which always becomes `{ value }`), extension attributes under their canonical URN key, no `id`,
 * `meta` or `schemas` (the service derives them), and no group `members` (returned separately,
 * the service keeps them in their own rows). Keys written are only ever the schema's own names,
 * so a body key such as `__proto__` or `constructor` can never reach an object: it is an unknown
 * attribute and the body is refused.
 */
import { badRequest } from '../errors';
import {
  type Attribute,
  byName,
  coreAttribute,
  ENTERPRISE_USER,
  extensionFor,
  resolvePath,
  type ResourceType,
  type Schema,
  subAttribute,
} from '../schema';
import { isObject, quoteName } from '../values';

export const RESOURCE_LIMITS = {
  /** Characters in one string value (a UPN is at most 113, a display name 256). */
  maxString: 4096,
  /** Values of one multi-valued attribute (emails, phoneNumbers...). */
  maxValues: 100,
  /** Members in one request (a POST/PUT body, or all the operations of one PATCH). */
  maxMembers: 10_000,
} as const;

/** A group member as the client sent it; `type` is canonicalised to 'User' or 'Group' when given. */
export interface MemberRef {
  value: string;
  type?: 'User' | 'Group';
}

export interface ValidatedResource {
  /** What to store: canonical names, no id/meta/schemas/members. */
  resource: Record<string, unknown>;
  /** A group's `members` when the body had the attribute (possibly empty); undefined when it did not. */
  members?: MemberRef[];
}

/** Schema URNs are long (Microsoft's run past 70 characters): quoted whole up to this length. */
const MAX_URN_SHOWN = 200;

const MANAGER = ENTERPRISE_USER.attributes.find((a) => a.name === 'manager')!;

/**
 * Validates a User or Group body and returns what to store (see the file comment).
 *
 * Choices where RFC 7643/7644 leave room:
 * - A missing `schemas` is accepted (RFC 7643 §3 makes it REQUIRED, but the resource type is known
 *   from the endpoint and Entra always sends it); when present it must be an array naming the core
 *   schema and only schemas this type has.
 * - readOnly attributes and sub-attributes (id, meta, groups, members.display, manager.displayName)
 *   are ignored, as RFC 7644 §3.3 and §3.5.1 say.
 * - `password` (writeOnly, RFC 7643 §4.1.1) is dropped: ScanRelay never authenticates users, so it
 *   keeps no secret it does not need.
 * - null, `[]` and `{}` mean "unassigned" (RFC 7643 §2.5) and are not stored.
 * - `mode` ('create' for POST, 'replace' for PUT and a patched resource) validates the same way;
 *   checks against the stored resource (immutable attributes, RFC 7644 §3.5.1) are the service's.
 */
export function validateResource(body: unknown, type: ResourceType, mode: 'create' | 'replace'): ValidatedResource {
  if (!isObject(body)) {
    throw badRequest('invalidSyntax', `The body of a ${mode === 'create' ? 'POST' : 'PUT'} must be a JSON object: a SCIM ${type.name}.`);
  }
  const out: Record<string, unknown> = {};
  const extensions = new Map<Schema, Record<string, unknown>>();
  const seen = new Set<string>();
  let members: MemberRef[] | undefined;

  const put = (target: Record<string, unknown>, scope: string, attr: Attribute, value: unknown, label: string): void => {
    const key = `${scope}|${attr.name}`;
    if (seen.has(key))
      throw badRequest('invalidSyntax', `Attribute ${quoteName(label)} is given twice (attribute names are case-insensitive).`);
    seen.add(key);
    if (attr.mutability === 'readOnly' || attr.mutability === 'writeOnly') return;
    const v = normaliseValue(attr, value, label);
    if (v !== undefined) target[attr.name] = v;
  };
  const extensionTarget = (ext: Schema): Record<string, unknown> => {
    let t = extensions.get(ext);
    if (!t) extensions.set(ext, (t = {}));
    return t;
  };

  for (const key of Object.keys(body)) {
    const value = body[key];
    if (key.toLowerCase() === 'schemas') {
      checkSchemas(value, type);
      continue;
    }
    const ext = extensionFor(type, key);
    if (ext) {
      if (value === null || value === undefined) continue;
      if (!isObject(value)) throw badRequest('invalidValue', `${quoteName(ext.id)} must be an object of ${ext.name} attributes.`);
      for (const sub of Object.keys(value)) {
        const attr = byName(ext.attributes, sub);
        if (!attr) throw badRequest('invalidSyntax', `Unknown attribute ${quoteName(sub)} in ${ext.id}.`);
        put(extensionTarget(ext), ext.id, attr, value[sub], attr.name);
      }
      continue;
    }
    if (key.toLowerCase().startsWith('urn:')) {
      // A fully qualified attribute name (`urn:...:enterprise:2.0:User:department`, RFC 7644 §3.10).
      const resolved = resolvePath(type, key);
      if (!resolved || resolved.sub) throw badRequest('invalidSyntax', `Unknown schema or attribute ${quoteName(key)} for a ${type.name}.`);
      const schema = resolved.extension ? extensionFor(type, resolved.extension)! : undefined;
      if (schema) put(extensionTarget(schema), schema.id, resolved.attribute, value, resolved.attribute.name);
      else if (type.name === 'Group' && resolved.attribute.name === 'members') members = validateMembers(value);
      else put(out, '', resolved.attribute, value, resolved.attribute.name);
      continue;
    }
    const attr = coreAttribute(type, key);
    if (!attr)
      throw badRequest(
        'invalidSyntax',
        `Unknown attribute ${quoteName(key)} for a ${type.name}; see /Schemas for the attributes ScanRelay keeps.`,
      );
    if (type.name === 'Group' && attr.name === 'members') {
      if (seen.has('|members'))
        throw badRequest('invalidSyntax', 'Attribute "members" is given twice (attribute names are case-insensitive).');
      seen.add('|members');
      members = validateMembers(value);
      continue;
    }
    put(out, '', attr, value, attr.name);
  }

  for (const attr of type.schema.attributes) {
    if (!attr.required) continue;
    const v = out[attr.name];
    if (typeof v !== 'string' || v.trim() === '') {
      throw badRequest('invalidValue', `Attribute "${attr.name}" is required: a ${type.name} needs a non-empty "${attr.name}".`);
    }
  }
  // Extensions in the type's declared order, after the core attributes.
  for (const ext of type.extensions) {
    const t = extensions.get(ext);
    if (t && Object.keys(t).length > 0) out[ext.id] = t;
  }
  return members === undefined ? { resource: out } : { resource: out, members };
}

function checkSchemas(value: unknown, type: ResourceType): void {
  if (value === undefined || value === null) return;
  if (!Array.isArray(value) || !value.every((s) => typeof s === 'string')) {
    throw badRequest('invalidSyntax', `"schemas" must be an array of schema URNs, such as ["${type.schema.id}"].`);
  }
  const known = [type.schema.id, ...type.extensions.map((e) => e.id), ...type.acceptedSchemas].map((id) => id.toLowerCase());
  for (const s of value) {
    if (!known.includes(s.toLowerCase()))
      throw badRequest('invalidSyntax', `Unknown schema ${quoteName(s, MAX_URN_SHOWN)} for a ${type.name}; see /Schemas.`);
  }
  if (!value.some((s) => s.toLowerCase() === type.schema.id.toLowerCase())) {
    throw badRequest('invalidSyntax', `"schemas" must include "${type.schema.id}".`);
  }
}

const ISO_DATE_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/i;

/**
 * Checks one attribute's value against its definition and returns it as stored: the same value,
 * sub-attribute names canonicalised, booleans sent as "True"/"False" converted, readOnly
 * sub-attributes dropped; undefined when the value means "unassigned" (null, [], {}).
 * `label` names the attribute in error details (`name.givenName`). Complex attributes hold only
 * simple sub-attributes (RFC 7643 §2.3.8), so the nesting of anything accepted is bounded.
 */
export function normaliseValue(attr: Attribute, value: unknown, label: string = attr.name): unknown {
  if (value === null || value === undefined) return undefined;
  if (attr === MANAGER) {
    value = managerShape(value);
    if (value === undefined) return undefined;
  }
  if (attr.multiValued) {
    if (!Array.isArray(value)) throw badRequest('invalidValue', `Attribute ${quoteName(label)} is multi-valued: it must be an array.`);
    if (value.length > RESOURCE_LIMITS.maxValues) {
      throw badRequest(
        'invalidValue',
        `Attribute ${quoteName(label)} has ${value.length} values; at most ${RESOURCE_LIMITS.maxValues} are accepted.`,
      );
    }
    const out: unknown[] = [];
    for (const el of value) {
      if (el === null || Array.isArray(el))
        throw badRequest(
          'invalidValue',
          `Attribute ${quoteName(label)} must be an array of ${attr.type === 'complex' ? 'objects' : attr.type + ' values'}.`,
        );
      const v = single(attr, el, label);
      if (v !== undefined) out.push(v);
    }
    // RFC 7643 §2.4: "The primary attribute value "true" MUST appear no more than once."
    if (out.filter((v) => isObject(v) && v.primary === true).length > 1) {
      throw badRequest('invalidValue', `Only one of the ${quoteName(label)} values may have "primary": true.`);
    }
    return out.length > 0 ? out : undefined;
  }
  return single(attr, value, label);
}

function single(attr: Attribute, value: unknown, label: string): unknown {
  switch (attr.type) {
    case 'complex': {
      if (!isObject(value)) {
        const subs = (attr.subAttributes ?? [])
          .map((s) => s.name)
          .slice(0, 3)
          .join(', ');
        throw badRequest('invalidValue', `Attribute ${quoteName(label)} must be an object (with ${subs}...).`);
      }
      const out: Record<string, unknown> = {};
      const seen = new Set<string>();
      for (const key of Object.keys(value)) {
        const sub = subAttribute(attr, key);
        if (!sub) throw badRequest('invalidSyntax', `Unknown attribute ${quoteName(`${label}.${key}`)}.`);
        if (seen.has(sub.name))
          throw badRequest(
            'invalidSyntax',
            `Attribute ${quoteName(`${label}.${sub.name}`)} is given twice (attribute names are case-insensitive).`,
          );
        seen.add(sub.name);
        if (sub.mutability === 'readOnly') continue;
        const v = normaliseValue(sub, value[key], `${label}.${sub.name}`);
        if (v !== undefined) out[sub.name] = v;
      }
      if (attr === MANAGER && (typeof out.value !== 'string' || out.value === '')) return undefined;
      return Object.keys(out).length > 0 ? out : undefined;
    }
    case 'string':
    case 'reference':
    case 'binary':
      if (typeof value !== 'string') throw badRequest('invalidValue', `Attribute ${quoteName(label)} must be a string.`);
      if (value.length > RESOURCE_LIMITS.maxString) {
        throw badRequest(
          'invalidValue',
          `Attribute ${quoteName(label)} is ${value.length} characters long; at most ${RESOURCE_LIMITS.maxString} are accepted.`,
        );
      }
      return value;
    case 'boolean': {
      const b = toBoolean(value);
      if (b === undefined) throw badRequest('invalidValue', `Attribute ${quoteName(label)} must be true or false.`);
      return b;
    }
    case 'integer':
      if (typeof value !== 'number' || !Number.isSafeInteger(value))
        throw badRequest('invalidValue', `Attribute ${quoteName(label)} must be an integer.`);
      return value;
    case 'decimal':
      if (typeof value !== 'number' || !Number.isFinite(value))
        throw badRequest('invalidValue', `Attribute ${quoteName(label)} must be a number.`);
      return value;
    case 'dateTime':
      if (typeof value !== 'string' || !ISO_DATE_TIME.test(value) || Number.isNaN(Date.parse(value))) {
        throw badRequest('invalidValue', `Attribute ${quoteName(label)} must be a date and time such as "2024-01-31T12:00:00Z".`);
      }
      return value;
  }
}

/** true/false, or Entra's default dialect's "True"/"False" strings (any case). */
export function toBoolean(v: unknown): boolean | undefined {
  if (typeof v === 'boolean') return v;
  if (typeof v === 'string') {
    const l = v.trim().toLowerCase();
    if (l === 'true') return true;
    if (l === 'false') return false;
  }
  return undefined;
}

/**
 * The enterprise manager arrives as `{"value": id}` (RFC 7643 §4.3), as `[{"value": id}]` or as a
 * bare id (Entra, depending on dialect and mapping); all become `{ value }`. An empty id clears it.
 */
function managerShape(value: unknown): unknown {
  if (Array.isArray(value)) {
    if (value.length === 0) return undefined;
    if (value.length > 1) throw badRequest('invalidValue', 'A user has one manager: send {"value": "<manager id>"}.');
    value = value[0];
  }
  if (typeof value === 'string') return value === '' ? undefined : { value };
  if (value === null) return undefined;
  return value;
}

/**
 * Validates group members (RFC 7643 §4.2): an array (a single object is accepted too) of
 * `{value, $ref?, type?, display?}` with a non-empty string `value`; `$ref` may be null (Entra sends
 * `"$ref": null`), `display` is readOnly and ignored. Duplicates are merged.
 */
export function validateMembers(value: unknown, label = 'members'): MemberRef[] {
  if (value === null || value === undefined) return [];
  const list = Array.isArray(value) ? value : [value];
  if (list.length > RESOURCE_LIMITS.maxMembers) {
    throw badRequest('invalidValue', `${list.length} members in one request; send at most ${RESOURCE_LIMITS.maxMembers} at a time.`);
  }
  const out = new Map<string, MemberRef>();
  for (const el of list) {
    if (!isObject(el))
      throw badRequest('invalidValue', `Each of ${quoteName(label)} must be an object such as {"value": "<user or group id>"}.`);
    let id: unknown;
    let memberType: unknown;
    for (const key of Object.keys(el)) {
      const sub = byName(GROUP_MEMBER_SUBS, key);
      if (!sub) throw badRequest('invalidSyntax', `Unknown attribute ${quoteName(`${label}.${key}`)}.`);
      const v = el[key];
      if (sub.name === 'value') id = v;
      else if (sub.name === 'type') memberType = v;
      else if (v !== null && typeof v !== 'string')
        throw badRequest('invalidValue', `Attribute ${quoteName(`${label}.${sub.name}`)} must be a string.`);
    }
    if (typeof id !== 'string' || id === '')
      throw badRequest('invalidValue', `Each of ${quoteName(label)} needs a "value": the id of a user or group.`);
    if (id.length > RESOURCE_LIMITS.maxString)
      throw badRequest(
        'invalidValue',
        `A member "value" is ${id.length} characters long; at most ${RESOURCE_LIMITS.maxString} are accepted.`,
      );
    const ref: MemberRef = { value: id };
    if (memberType !== undefined && memberType !== null) {
      const t = typeof memberType === 'string' ? memberType.toLowerCase() : '';
      if (t !== 'user' && t !== 'group') throw badRequest('invalidValue', `A member "type" must be "User" or "Group".`);
      ref.type = t === 'user' ? 'User' : 'Group';
    }
    out.set(id, { ...out.get(id), ...ref });
  }
  return [...out.values()];
}

const GROUP_MEMBER_SUBS: readonly Attribute[] = [
  { name: 'value', type: 'string' },
  { name: '$ref', type: 'reference' },
  { name: 'type', type: 'string' },
  { name: 'display', type: 'string' },
];
