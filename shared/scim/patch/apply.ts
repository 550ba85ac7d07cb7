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
 *
 * This file reads the message and its operations one after the other and hands each to
 * attributes.ts or, for a group's members, members.ts.
 */
import { badRequest, isScimError, ScimError } from '../errors';
import { validateResource } from '../resource';
import { extensionFor, PATCH_OP, type ResourceType, type Schema } from '../schema';
import { getProperty, isObject, quoteName } from '../values';
import { applyToAttribute } from './attributes';
import { MemberPatch, type MemberChanges } from './members';
import { resolveTarget, type Op, type Target } from './target';

export const PATCH_LIMITS = {
  /** Operations in one PATCH (ServiceProviderConfig has no such field; Entra sends a handful). */
  maxOperations: 1000,
} as const;

export interface PatchResult {
  resource: Record<string, unknown>;
  /** Set when an operation touched a group's `members`. */
  members?: MemberChanges;
}

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
  return patcher.members ? { resource: result, members: patcher.members.changes() } : { resource: result };
}

class Patcher {
  /** Set by the first operation on a group's `members`. */
  members?: MemberPatch;

  constructor(
    readonly resource: Record<string, unknown>,
    private readonly type: ResourceType,
  ) {
    // Members live in their own rows; a stray copy in the resource must not be patched or stored.
    if (type.name === 'Group') delete resource.members;
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
      else this.applyTo(op, resolveTarget(path, this.type), value);
    } catch (e) {
      if (isScimError(e) && e.status === 400) throw new ScimError(400, e.scimType, `${described}: ${e.message}`);
      throw e;
    }
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
      const t = resolveTarget(key, this.type);
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
    if (this.type.name === 'Group' && !t.ext && t.attribute.name === 'members')
      return (this.members ??= new MemberPatch()).apply(op, t, value);
    applyToAttribute(this.resource, this.type, op, t, value);
  }
}
