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
