/** A SCIM client for tests: what Entra ID's provisioning service sends, over real HTTP to the local host. */
import { randomBytes } from 'node:crypto';
import { httpRequest, type HttpResult } from './http';

export const USER_SCHEMA = 'urn:ietf:params:scim:schemas:core:2.0:User';
export const GROUP_SCHEMA = 'urn:ietf:params:scim:schemas:core:2.0:Group';
export const ENTERPRISE = 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User';
export const PATCH_OP = 'urn:ietf:params:scim:api:messages:2.0:PatchOp';
export const LIST_RESPONSE = 'urn:ietf:params:scim:api:messages:2.0:ListResponse';
export const ERROR = 'urn:ietf:params:scim:api:messages:2.0:Error';

export const newToken = () => randomBytes(32).toString('base64url');

export interface ScimClient {
  base: string;
  request(method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<HttpResult>;
  get(path: string, headers?: Record<string, string>): Promise<HttpResult>;
  post(path: string, body: unknown): Promise<HttpResult>;
  patch(path: string, operations: unknown[], headers?: Record<string, string>): Promise<HttpResult>;
  delete(path: string, headers?: Record<string, string>): Promise<HttpResult>;
}

export function scimClient(hostUrl: string, token: string): ScimClient {
  const base = `${hostUrl}/api/scim/v2`;
  const request = (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) => {
    const payload = body === undefined ? undefined : Buffer.from(typeof body === 'string' ? body : JSON.stringify(body));
    return httpRequest(`${base}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${token}`,
        ...(payload ? { 'content-type': 'application/scim+json', 'content-length': payload.length } : {}),
        ...headers,
      },
      body: payload,
    });
  };
  return {
    base,
    request,
    get: (path, headers) => request('GET', path, undefined, headers),
    post: (path, body) => request('POST', path, body),
    patch: (path, operations, headers) => request('PATCH', path, { schemas: [PATCH_OP], Operations: operations }, headers),
    delete: (path, headers) => request('DELETE', path, undefined, headers),
  };
}

/** `?filter=...` encoded as Entra encodes it. */
export const filterQuery = (filter: string, extra = '') => `?filter=${encodeURIComponent(filter)}${extra}`;
