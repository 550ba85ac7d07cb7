/**
 * The SCIM 2.0 service provider (RFC 7644) that Microsoft Entra ID provisions users and groups
 * into: `/scim/v2/Users`, `/Groups`, `/ServiceProviderConfig`, `/Schemas`, `/ResourceTypes`.
 *
 * `handleScim` takes a plain request (method, path below /scim/v2, query, headers, body) and
 * returns a plain response; the function trigger only translates. The protocol core is pure:
 * schema.ts (attributes), filter/ (filters: parse, evaluate, point reads), resource/ (validate,
 * project), patch/ (PATCH, both of Entra's dialects). Storage is the directory
 * (shared/storage/directory.ts).
 *
 * This file is the concern's surface: functions/scim.ts and other concerns import SCIM from here
 * only.
 */
import { authenticate } from './auth';
import { ScimError } from './errors';
import { ERROR_SCHEMA } from './schema';
import { routeScim } from './service';
import type { ScimDeps, ScimRequest, ScimResponse } from './types';

export type { ScimDeps, ScimRequest, ScimResponse } from './types';

export const SCIM_CONTENT_TYPE = 'application/scim+json; charset=utf-8';
/** The largest request body accepted; Entra's requests are a few KiB (member batches included). */
export const SCIM_MAX_BODY_BYTES = 1024 * 1024;

/** Answers one SCIM request; every failure becomes a SCIM error response (RFC 7644 §3.12). */
export async function handleScim(deps: ScimDeps, request: ScimRequest): Promise<ScimResponse> {
  try {
    if (deps.config.source !== 'scim') {
      throw new ScimError(
        403,
        undefined,
        'SCIM provisioning is turned off: this ScanRelay reads users and groups by directory sync (DIRECTORY_SOURCE=sync).',
      );
    }
    await authenticate(deps.secrets, request.headers.authorization, deps.log);
    return await routeScim(deps, request);
  } catch (err) {
    if (err instanceof ScimError) return scimErrorResponse(err.status, err.scimType, err.message);
    throw err;
  }
}

export function scimErrorResponse(status: number, scimType: string | undefined, detail: string): ScimResponse {
  return {
    status,
    body: { schemas: [ERROR_SCHEMA], status: String(status), ...(scimType ? { scimType } : {}), detail },
    ...(status === 401 ? { headers: { 'www-authenticate': 'Bearer realm="ScanRelay SCIM"' } } : {}),
  };
}

export { MIN_TOKEN_LENGTH, SCIM_PREVIOUS_TOKEN_SECRET, SCIM_TOKEN_SECRET } from './auth';
export { ScimError } from './errors';
/** The schema URNs other concerns name in resources they read or write (the directory, directory sync). */
export { ENTERPRISE_USER_SCHEMA, GROUP_SCHEMA, SCANRELAY_USER_SCHEMA, USER_SCHEMA } from './schema';
