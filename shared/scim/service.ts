/**
 * SCIM operations on the directory: routing, list/filter/paging, create, replace, patch, delete,
 * and the discovery endpoints. Reads and writes go through the directory repositories; every
 * read-modify-write is ETag-guarded and retried a few times when another writer came first
 * (unless the client sent If-Match, which then answers 412).
 */
import { forEachLimited } from '../concurrency';
import { createHash } from 'node:crypto';
import {
  CONFLICT,
  DirectoryConflictError,
  isKeySafe,
  retryOnConflict,
  type Directory,
  type Member,
  type MemberType,
  type StoredGroup,
  type StoredUser,
} from '../storage';
import { badRequest, conflict, notFound, preconditionFailed, ScimError } from './errors';
import { equalityLookup, matches, parseFilter, type Filter } from './filter';
import { applyPatch, type MemberChanges } from './patch';
import { parseAttributeList, project, validateResource } from './resource';
import { GROUP_TYPE, LIST_RESPONSE, RESOURCE_TYPES, SCHEMAS, USER_TYPE, schemaResource, type ResourceType } from './schema';
import type { ScimDeps, ScimRequest, ScimResponse } from './types';

/** Most resources in one list response (ServiceProviderConfig filter.maxResults). */
export const MAX_RESULTS = 200;
const WRITE_ATTEMPTS = 5;

type Stored = StoredUser | StoredGroup;

export async function routeScim(deps: ScimDeps, req: ScimRequest): Promise<ScimResponse> {
  const segments = req.path.split('/').filter(Boolean);
  const [collection, id, ...rest] = segments;
  const method = req.method.toUpperCase();
  if (rest.length > 0 || !collection) throw notFound(`There is no SCIM endpoint at ${truncate(req.path)}.`);
  const type = RESOURCE_TYPES.find((t) => t.endpoint.slice(1).toLowerCase() === collection.toLowerCase());
  if (type) {
    if (id === undefined) {
      if (method === 'GET') return list(deps, req, type);
      if (method === 'POST') return create(deps, req, type);
    } else {
      if (!isKeySafe(id)) throw notFound(`No ${type.name} has the id ${truncate(id)}.`);
      if (method === 'GET') return getOne(deps, req, type, id);
      if (method === 'PUT') return replaceOne(deps, req, type, id);
      if (method === 'PATCH') return patchOne(deps, req, type, id);
      if (method === 'DELETE') return deleteOne(deps, req, type, id);
    }
    throw methodNotAllowed(method, req.path);
  }
  if (method !== 'GET') throw methodNotAllowed(method, req.path);
  switch (collection.toLowerCase()) {
    case 'serviceproviderconfig':
      if (id === undefined) return ok(serviceProviderConfig(req.baseUrl));
      break;
    case 'schemas': {
      const all = SCHEMAS.map((s) => schemaResource(s, req.baseUrl));
      if (id === undefined) return ok(listResponse(all, all.length, 1));
      const one = all.find((s) => String(s.id).toLowerCase() === id.toLowerCase());
      if (one) return ok(one);
      throw notFound(`There is no schema ${truncate(id)}.`);
    }
    case 'resourcetypes': {
      const all = RESOURCE_TYPES.map((t) => resourceTypeResource(t, req.baseUrl));
      if (id === undefined) return ok(listResponse(all, all.length, 1));
      const one = all.find((t) => String(t.id).toLowerCase() === id.toLowerCase());
      if (one) return ok(one);
      throw notFound(`There is no resource type ${truncate(id)}.`);
    }
  }
  throw notFound(`There is no SCIM endpoint at ${truncate(req.path)}.`);
}

// ---------------------------------------------------------------------------------------------
// Reading

async function getOne(deps: ScimDeps, req: ScimRequest, type: ResourceType, id: string): Promise<ScimResponse> {
  const stored = await load(deps.directory, type, id);
  const view = viewOptions(req);
  const full = await render(deps.directory, type, stored, req.baseUrl, { members: wants(view, 'members'), groups: true });
  return ok(project(full, type, view), stored);
}

async function list(deps: ScimDeps, req: ScimRequest, type: ResourceType): Promise<ScimResponse> {
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

// ---------------------------------------------------------------------------------------------
// Writing

async function create(deps: ScimDeps, req: ScimRequest, type: ResourceType): Promise<ScimResponse> {
  const { resource, members } = validateResource(parseBody(req), type, 'create');
  let stored: Stored;
  try {
    stored =
      type === USER_TYPE ? await deps.directory.users.create(resource, 'scim') : await deps.directory.groups.create(resource, 'scim');
  } catch (err) {
    throw uniqueness(err);
  }
  if (type === GROUP_TYPE && members?.length) {
    await applyMemberChanges(deps.directory, stored.id, { add: members, remove: [] });
  }
  deps.log.info(`SCIM: created ${type.name} ${stored.id}`);
  const full = await render(deps.directory, type, stored, req.baseUrl, { members: type === GROUP_TYPE, groups: false });
  const response = ok(project(full, type, viewOptions(req)), stored);
  return { ...response, status: 201, headers: { ...response.headers, location: location(req.baseUrl, type, stored.id) } };
}

async function replaceOne(deps: ScimDeps, req: ScimRequest, type: ResourceType, id: string): Promise<ScimResponse> {
  const { resource, members } = validateResource(parseBody(req), type, 'replace');
  const stored = await writeWithRetry(deps.directory, req, type, id, () => resource);
  if (type === GROUP_TYPE) await applyMemberChanges(deps.directory, id, { removeAll: true, add: members ?? [], remove: [] });
  const full = await render(deps.directory, type, stored, req.baseUrl, { members: type === GROUP_TYPE, groups: false });
  return ok(project(full, type, viewOptions(req)), stored);
}

async function patchOne(deps: ScimDeps, req: ScimRequest, type: ResourceType, id: string): Promise<ScimResponse> {
  const body = parseBody(req);
  let memberChanges: MemberChanges | undefined;
  const stored = await writeWithRetry(deps.directory, req, type, id, (current) => {
    const result = applyPatch(current.resource, body, type);
    memberChanges = result.members;
    return result.resource;
  });
  if (type === GROUP_TYPE && memberChanges) await applyMemberChanges(deps.directory, id, memberChanges);
  if (type === GROUP_TYPE) return { status: 204, headers: { etag: version(stored) } };
  const full = await render(deps.directory, type, stored, req.baseUrl, { members: false, groups: false });
  return ok(project(full, type, viewOptions(req)), stored);
}

async function deleteOne(deps: ScimDeps, req: ScimRequest, type: ResourceType, id: string): Promise<ScimResponse> {
  const stored = await load(deps.directory, type, id);
  checkIfMatch(req, stored);
  // Memberships first: a crash then leaves a resource Entra deletes again, never rows pointing nowhere.
  if (type === GROUP_TYPE) await deps.directory.members.removeAllOf(id);
  await deps.directory.members.removeMember(id);
  if (type === USER_TYPE) await deps.directory.users.delete(stored as StoredUser);
  else await deps.directory.groups.delete(stored as StoredGroup);
  deps.log.info(`SCIM: deleted ${type.name} ${id}`);
  return { status: 204 };
}

/**
 * Reads the resource, computes its new content and writes it with the ETag it was read with; when
 * another writer came first, reads again and recomputes (a few times). With If-Match, a resource
 * changed since the client's version is a 412 instead.
 */
async function writeWithRetry(
  directory: Directory,
  req: ScimRequest,
  type: ResourceType,
  id: string,
  next: (current: Stored) => Record<string, unknown>,
): Promise<Stored> {
  const outcome = await retryOnConflict(async () => {
    const current = await load(directory, type, id);
    checkIfMatch(req, current);
    const resource = next(current);
    if (JSON.stringify(resource) === JSON.stringify(current.resource)) return current;
    let written: Stored | undefined;
    try {
      written =
        type === USER_TYPE
          ? await directory.users.replace(current as StoredUser, resource)
          : await directory.groups.replace(current as StoredGroup, resource);
    } catch (err) {
      throw uniqueness(err);
    }
    return written ?? CONFLICT;
  }, WRITE_ATTEMPTS);
  if (outcome === CONFLICT)
    throw new ScimError(409, undefined, 'The resource kept changing while this request was applied; send it again.');
  return outcome;
}

/** Applies member additions and removals: two small rows per membership, never the whole group. */
async function applyMemberChanges(directory: Directory, groupId: string, changes: MemberChanges): Promise<void> {
  if (changes.removeAll) await directory.members.removeAllOf(groupId);
  const adds = await Promise.all(changes.add.map(async (m) => ({ value: m.value, type: await memberType(directory, m.value, m.type) })));
  const unknown = adds.filter((m) => m.type === undefined).map((m) => m.value);
  if (unknown.length > 0) {
    throw badRequest(
      'invalidValue',
      `No user or group has the id ${unknown
        .slice(0, 3)
        .map((v) => `"${truncate(v)}"`)
        .join(', ')}; provision it before adding it as a member.`,
    );
  }
  await forEachLimited(changes.remove, 8, (memberId) => directory.members.remove(groupId, memberId));
  await forEachLimited(adds as Member[], 8, (m) => directory.members.add(groupId, m.value, m.type));
}

async function memberType(directory: Directory, id: string, declared?: string): Promise<MemberType | undefined> {
  if (!isKeySafe(id)) return undefined;
  const asGroup = declared?.toLowerCase() === 'group';
  if (!asGroup && (await directory.users.get(id))) return 'User';
  if (await directory.groups.get(id)) return 'Group';
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// Representation

interface RenderOptions {
  members: boolean;
  groups: boolean;
}

async function render(
  directory: Directory,
  type: ResourceType,
  stored: Stored,
  baseUrl: string,
  options: RenderOptions,
): Promise<Record<string, unknown>> {
  const out: Record<string, unknown> = {
    ...stored.resource,
    schemas: schemasOf(type, stored.resource),
    id: stored.id,
    meta: {
      resourceType: type.name,
      created: stored.created.toISOString(),
      lastModified: stored.lastModified.toISOString(),
      location: location(baseUrl, type, stored.id),
      version: version(stored),
    },
  };
  if (type === GROUP_TYPE && options.members) {
    const members: Record<string, unknown>[] = [];
    for await (const m of directory.members.list(stored.id)) {
      members.push({ value: m.value, type: m.type, $ref: location(baseUrl, m.type === 'Group' ? GROUP_TYPE : USER_TYPE, m.value) });
    }
    out.members = members;
  }
  if (type === USER_TYPE && options.groups) {
    const groups = await directory.members.groupsOf(stored.id);
    if (groups.length > 0) out.groups = groups.map((g) => ({ value: g, $ref: location(baseUrl, GROUP_TYPE, g), type: 'direct' }));
  }
  return out;
}

/** The core schema plus each extension the resource has values for. */
function schemasOf(type: ResourceType, resource: Record<string, unknown>): string[] {
  return [type.schema.id, ...type.extensions.filter((e) => resource[e.id] !== undefined).map((e) => e.id)];
}

/** meta.version and the ETag header: a weak validator derived from the row's ETag. */
export function version(stored: Stored): string {
  return `W/"${createHash('sha256').update(stored.etag).digest('base64url').slice(0, 22)}"`;
}

function checkIfMatch(req: ScimRequest, current: Stored): void {
  const header = req.headers.ifMatch?.trim();
  if (!header || header === '*') return;
  const current_ = version(current);
  const strip = (v: string) => v.replace(/^W\//, '');
  if (!header.split(',').some((v) => strip(v.trim()) === strip(current_))) {
    throw preconditionFailed(`The ${current.id} resource changed since version ${truncate(header)}; read it again and retry.`);
  }
}

function location(baseUrl: string, type: ResourceType, id: string): string {
  return `${baseUrl}${type.endpoint}/${encodeURIComponent(id)}`;
}

function listResponse(resources: Record<string, unknown>[], total: number, startIndex: number): Record<string, unknown> {
  return { schemas: [LIST_RESPONSE], totalResults: total, startIndex, itemsPerPage: resources.length, Resources: resources };
}

function ok(body: Record<string, unknown>, stored?: Stored): ScimResponse {
  return { status: 200, body, ...(stored ? { headers: { etag: version(stored) } } : {}) };
}

function serviceProviderConfig(baseUrl: string): Record<string, unknown> {
  return {
    schemas: ['urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig'],
    documentationUri: 'https://github.com/scanrelay/scanrelay/blob/main/docs/provisioning.md',
    patch: { supported: true },
    bulk: { supported: false, maxOperations: 0, maxPayloadSize: 0 },
    filter: { supported: true, maxResults: MAX_RESULTS },
    changePassword: { supported: false },
    sort: { supported: false },
    etag: { supported: true },
    authenticationSchemes: [
      {
        type: 'oauthbearertoken',
        name: 'Bearer token',
        description: 'The secret token stored as scim-bearer-token, sent as Authorization: Bearer <token>.',
        primary: true,
      },
    ],
    meta: { resourceType: 'ServiceProviderConfig', location: `${baseUrl}/ServiceProviderConfig` },
  };
}

function resourceTypeResource(type: ResourceType, baseUrl: string): Record<string, unknown> {
  return {
    schemas: ['urn:ietf:params:scim:schemas:core:2.0:ResourceType'],
    id: type.name,
    name: type.name,
    endpoint: type.endpoint,
    description: type.schema.description,
    schema: type.schema.id,
    schemaExtensions: type.extensions.map((e) => ({ schema: e.id, required: false })),
    meta: { resourceType: 'ResourceType', location: `${baseUrl}/ResourceTypes/${type.name}` },
  };
}

// ---------------------------------------------------------------------------------------------
// Small helpers

async function get(directory: Directory, type: ResourceType, id: string): Promise<Stored | undefined> {
  return type === USER_TYPE ? directory.users.get(id) : directory.groups.get(id);
}

async function load(directory: Directory, type: ResourceType, id: string): Promise<Stored> {
  const stored = await get(directory, type, id);
  if (!stored) throw notFound(`No ${type.name} has the id ${truncate(id)}.`);
  return stored;
}

function parseBody(req: ScimRequest): unknown {
  if (req.body === undefined || req.body.trim() === '')
    throw badRequest('invalidSyntax', 'The request has no body; send a SCIM JSON object.');
  const type = req.headers.contentType?.split(';')[0]?.trim().toLowerCase();
  if (type && type !== 'application/scim+json' && type !== 'application/json') {
    throw new ScimError(415, undefined, `The body must be application/scim+json (got ${truncate(type)}).`);
  }
  try {
    return JSON.parse(req.body) as unknown;
  } catch {
    throw badRequest('invalidSyntax', 'The body is not valid JSON.');
  }
}

function viewOptions(req: ScimRequest) {
  return {
    attributes: parseAttributeList(req.query.get('attributes'), 'attributes'),
    excludedAttributes: parseAttributeList(req.query.get('excludedAttributes'), 'excludedAttributes'),
  };
}

function wants(view: { attributes?: string[]; excludedAttributes?: string[] }, name: string): boolean {
  const n = name.toLowerCase();
  const mentions = (list?: string[]) =>
    list?.some((a) => a.toLowerCase() === n || a.toLowerCase().endsWith(`:${n}`) || a.toLowerCase().startsWith(`${n}.`));
  if (view.attributes?.length) return !!mentions(view.attributes);
  return !mentions(view.excludedAttributes);
}

function positiveInt(raw: string | null, name: string, fallback: number, min = 1): number {
  if (raw === null || raw.trim() === '') return fallback;
  if (!/^\d{1,9}$/.test(raw.trim())) throw badRequest('invalidValue', `${name} must be a whole number (got "${truncate(raw)}").`);
  return Math.max(Number(raw), min);
}

function uniqueness(err: unknown): unknown {
  if (err instanceof DirectoryConflictError) {
    return conflict(
      `The ${err.attribute} "${truncate(err.value)}" is already in use by another resource (compared without regard to case).`,
    );
  }
  return err;
}

function methodNotAllowed(method: string, path: string): ScimError {
  return new ScimError(405, undefined, `${truncate(method)} is not supported on ${truncate(path)}.`);
}

function truncate(v: string, max = 80): string {
  const clean = v.replace(/[\u0000-\u001f\u007f]/g, '?');
  return clean.length > max ? `${clean.slice(0, max)}…` : clean;
}
