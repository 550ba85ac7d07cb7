/**
 * SCIM reads: one resource by id, and list requests (filter, paging, attributes), answered from an
 * index point read when the filter is `attr eq "value"` on an indexed attribute, else from a scan.
 */
import { isKeySafe, type Directory } from '../../storage';
import { notFound } from '../errors';
import { equalityLookup, matches, parseFilter, type Filter } from '../filter';
import { project } from '../resource';
import { GROUP_TYPE, USER_TYPE, type ResourceType } from '../schema';
import type { ScimDeps, ScimRequest, ScimResponse } from '../types';
import { listResponse, ok, render, type Stored } from './representation';
import { positiveInt, truncate, viewOptions, wants } from './request';

/** Most resources in one list response (ServiceProviderConfig filter.maxResults). */
export const MAX_RESULTS = 200;

export async function getOne(deps: ScimDeps, req: ScimRequest, type: ResourceType, id: string): Promise<ScimResponse> {
  const stored = await load(deps.directory, type, id);
  const view = viewOptions(req);
  const full = await render(deps.directory, type, stored, req.baseUrl, { members: wants(view, 'members'), groups: true });
  return ok(project(full, type, view), stored);
}

export async function list(deps: ScimDeps, req: ScimRequest, type: ResourceType): Promise<ScimResponse> {
  const view = viewOptions(req);
  const startIndex = positiveInt(req.query.get('startIndex'), 'startIndex', 1);
  const count = Math.min(positiveInt(req.query.get('count'), 'count', MAX_RESULTS, 0), MAX_RESULTS);
  const filterText = req.query.get('filter');
  const filter = filterText === null ? undefined : parseFilter(filterText, type);
  const needMembers = type === GROUP_TYPE && (wants(view, 'members') || /members/i.test(filterText ?? ''));

  const hits: Record<string, unknown>[] = [];
  let total = 0;
  for await (const stored of candidates(deps.directory, type, filter)) {
    const full = await render(deps.directory, type, stored, req.baseUrl, { members: needMembers, groups: false });
    if (filter && !matches(filter, full, type)) continue;
    total++;
    if (total >= startIndex && hits.length < count) hits.push(project(full, type, view));
  }
  return ok(listResponse(hits, total, startIndex));
}

/** The resources a filter can match: a point read on an index when it is `attr eq "value"`, else all. */
async function* candidates(directory: Directory, type: ResourceType, filter: Filter | undefined): AsyncIterable<Stored> {
  const lookup = filter && equalityLookup(filter, type);
  const attribute = lookup?.attribute.toLowerCase();
  if (lookup && attribute === 'id') {
    const one = isKeySafe(lookup.value) ? await get(directory, type, lookup.value) : undefined;
    if (one) yield one;
    return;
  }
  if (lookup && type === USER_TYPE && attribute === 'username') {
    const one = await directory.users.findByUserName(lookup.value);
    if (one) yield one;
    return;
  }
  if (lookup && attribute === 'externalid') {
    yield* type === USER_TYPE
      ? await directory.users.findByExternalId(lookup.value)
      : await directory.groups.findByExternalId(lookup.value);
    return;
  }
  if (lookup && type === GROUP_TYPE && attribute === 'displayname') {
    yield* await directory.groups.findByDisplayName(lookup.value);
    return;
  }
  yield* type === USER_TYPE ? directory.users.list() : directory.groups.list();
}

async function get(directory: Directory, type: ResourceType, id: string): Promise<Stored | undefined> {
  return type === USER_TYPE ? directory.users.get(id) : directory.groups.get(id);
}

export async function load(directory: Directory, type: ResourceType, id: string): Promise<Stored> {
  const stored = await get(directory, type, id);
  if (!stored) throw notFound(`No ${type.name} has the id ${truncate(id)}.`);
  return stored;
}
