/**
 * Point reads: recognises the filters the service can answer from an index row instead of a scan
 * of every resource.
 */
import type { ResourceType } from '../schema';
import type { Filter } from './tree';

/** Attributes the service keeps index rows for. */
const LOOKUP_ATTRIBUTES: Record<ResourceType['name'], readonly string[]> = {
  User: ['userName', 'externalId', 'id'],
  Group: ['displayName', 'externalId', 'id'],
};

/**
 * `{attribute, value}` when the filter is exactly `<attr> eq "<string>"` on an indexed attribute
 * (userName, externalId, id; displayName for groups), so the service can do a point read instead of
 * a scan. `attribute` is the canonical name. The service must still compare with the attribute's
 * caseExact rule (userName and displayName are case-insensitive; id and externalId are caseExact).
 */
export function equalityLookup(filter: Filter, type: ResourceType): { attribute: string; value: string } | undefined {
  if (filter.kind !== 'compare' || filter.op !== 'eq' || typeof filter.value !== 'string') return undefined;
  if (filter.path.extension || filter.path.sub) return undefined;
  return LOOKUP_ATTRIBUTES[type.name].includes(filter.path.attribute)
    ? { attribute: filter.path.attribute, value: filter.value }
    : undefined;
}

/**
 * `{emailType, value}` when the filter is Entra's e-mail matching lookup: `emails[type eq "work"].value
 * eq "x"` (normalised by the parser) or `emails[type eq "work" and value eq "x"]`, either order.
 */
export function emailLookup(filter: Filter, type: ResourceType): { emailType: string; value: string } | undefined {
  if (type.name !== 'User' || filter.kind !== 'valuePath' || filter.path.attribute !== 'emails' || filter.path.extension) return undefined;
  const inner = filter.filter;
  if (inner.kind !== 'and') return undefined;
  const eqOn = (f: Filter, name: string): string | undefined =>
    f.kind === 'compare' && f.op === 'eq' && f.path.attribute === name && typeof f.value === 'string' ? f.value : undefined;
  const emailType = eqOn(inner.left, 'type') ?? eqOn(inner.right, 'type');
  const value = eqOn(inner.left, 'value') ?? eqOn(inner.right, 'value');
  if (emailType === undefined || value === undefined) return undefined;
  // Both sides must be used: `type eq "a" and type eq "b"` is not a lookup.
  if ((eqOn(inner.left, 'type') !== undefined) === (eqOn(inner.right, 'type') !== undefined)) return undefined;
  return { emailType, value };
}
