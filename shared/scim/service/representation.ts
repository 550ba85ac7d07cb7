/**
 * How the SCIM service represents what the directory stores: the full resource with its schemas,
 * meta (location, version) and, as asked, a group's members or a user's groups; list responses;
 * the version that is also the ETag header.
 */
import { createHash } from 'node:crypto';
import type { Directory, StoredGroup, StoredUser } from '../../storage';
import { GROUP_TYPE, LIST_RESPONSE, USER_TYPE, type ResourceType } from '../schema';
import type { ScimResponse } from '../types';

/** A user or group as the directory stores it. */
export type Stored = StoredUser | StoredGroup;

export interface RenderOptions {
  members: boolean;
  groups: boolean;
}

export async function render(
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

export function location(baseUrl: string, type: ResourceType, id: string): string {
  return `${baseUrl}${type.endpoint}/${encodeURIComponent(id)}`;
}

export function listResponse(resources: Record<string, unknown>[], total: number, startIndex: number): Record<string, unknown> {
  return { schemas: [LIST_RESPONSE], totalResults: total, startIndex, itemsPerPage: resources.length, Resources: resources };
}

export function ok(body: Record<string, unknown>, stored?: Stored): ScimResponse {
  return { status: 200, body, ...(stored ? { headers: { etag: version(stored) } } : {}) };
}
