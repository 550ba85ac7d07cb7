/**
 * SCIM writes: create, replace, patch and delete. Every read-modify-write is ETag-guarded and
 * retried a few times when another writer came first (unless the client sent If-Match, which then
 * answers 412); group members are written as their own rows, never as part of the group.
 */
import { forEachLimited } from '../../concurrency';
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
} from '../../storage';
import { badRequest, conflict, preconditionFailed, ScimError } from '../errors';
import { applyPatch, type MemberChanges } from '../patch';
import { project, validateResource } from '../resource';
import { GROUP_TYPE, USER_TYPE, type ResourceType } from '../schema';
import type { ScimDeps, ScimRequest, ScimResponse } from '../types';
import { load } from './read';
import { location, ok, render, version, type Stored } from './representation';
import { parseBody, truncate, viewOptions } from './request';

const WRITE_ATTEMPTS = 5;

export async function create(deps: ScimDeps, req: ScimRequest, type: ResourceType): Promise<ScimResponse> {
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

export async function replaceOne(deps: ScimDeps, req: ScimRequest, type: ResourceType, id: string): Promise<ScimResponse> {
  const { resource, members } = validateResource(parseBody(req), type, 'replace');
  const stored = await writeWithRetry(deps.directory, req, type, id, () => resource);
  if (type === GROUP_TYPE) await applyMemberChanges(deps.directory, id, { removeAll: true, add: members ?? [], remove: [] });
  const full = await render(deps.directory, type, stored, req.baseUrl, { members: type === GROUP_TYPE, groups: false });
  return ok(project(full, type, viewOptions(req)), stored);
}

export async function patchOne(deps: ScimDeps, req: ScimRequest, type: ResourceType, id: string): Promise<ScimResponse> {
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

export async function deleteOne(deps: ScimDeps, req: ScimRequest, type: ResourceType, id: string): Promise<ScimResponse> {
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

function checkIfMatch(req: ScimRequest, current: Stored): void {
  const header = req.headers.ifMatch?.trim();
  if (!header || header === '*') return;
  const current_ = version(current);
  const strip = (v: string) => v.replace(/^W\//, '');
  if (!header.split(',').some((v) => strip(v.trim()) === strip(current_))) {
    throw preconditionFailed(`The ${current.id} resource changed since version ${truncate(header)}; read it again and retry.`);
  }
}

function uniqueness(err: unknown): unknown {
  if (err instanceof DirectoryConflictError) {
    return conflict(
      `The ${err.attribute} "${truncate(err.value)}" is already in use by another resource (compared without regard to case).`,
    );
  }
  return err;
}
