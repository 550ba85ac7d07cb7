/**
 * SCIM routing: which operation a method and path below /scim/v2 ask for, and the discovery
 * endpoints (ServiceProviderConfig, Schemas, ResourceTypes).
 */
import { isKeySafe } from '../../storage';
import { notFound, ScimError } from '../errors';
import { RESOURCE_TYPES, SCHEMAS, schemaResource, type ResourceType } from '../schema';
import type { ScimDeps, ScimRequest, ScimResponse } from '../types';
import { getOne, list, MAX_RESULTS } from './read';
import { listResponse, ok } from './representation';
import { truncate } from './request';
import { create, deleteOne, patchOne, replaceOne } from './write';

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

function methodNotAllowed(method: string, path: string): ScimError {
  return new ScimError(405, undefined, `${truncate(method)} is not supported on ${truncate(path)}.`);
}
