/**
 * The SCIM 2.0 service provider (RFC 7644) that Microsoft Entra ID provisions users and groups
 * into: `/scim/v2/Users`, `/Groups`, `/ServiceProviderConfig`, `/Schemas`, `/ResourceTypes`.
 *
 * `handleScim` takes a plain request (method, path below /scim/v2, query, headers, a way to read
 * the body) and returns a plain response, every failure included; the function trigger only
 * translates. The protocol core is pure: schema.ts (attributes), filter/ (filters: parse,
 * evaluate, point reads), resource/ (validate, project), patch/ (PATCH, both of Entra's
 * dialects). Storage is the directory (shared/storage/directory.ts); each answer is recorded for
 * the console's Directory page (activity.ts).
 *
 * This file is the concern's surface: functions/scim.ts and other concerns import SCIM from here
 * only.
 */
import { isAppError } from '../errors';
import { describeError } from '../log';
import { authenticate } from './auth';
import { ScimError } from './errors';
import { ERROR_SCHEMA } from './schema';
import { routeScim } from './service';
import type { IncomingScimRequest, ScimDeps, ScimResponse } from './types';

export type { IncomingScimRequest, ScimDeps, ScimRequest, ScimResponse } from './types';
export { REQUEST_EVERY_MS, ScimActivity, type ScimExchange } from './activity';

export const SCIM_CONTENT_TYPE = 'application/scim+json; charset=utf-8';
/** The largest request body accepted; Entra's requests are a few KiB (member batches included). */
export const SCIM_MAX_BODY_BYTES = 1024 * 1024;

/**
 * Answers one SCIM request; every failure becomes a SCIM error response (RFC 7644 §3.12), and the
 * answer is recorded (activity.ts) before it is returned.
 */
export async function handleScim(deps: ScimDeps, request: IncomingScimRequest): Promise<ScimResponse> {
  const response = await answer(deps, request);
  const error = response.status >= 400 ? response.body : undefined;
  await deps.activity.record(
    {
      method: request.method,
      path: request.path,
      query: request.query,
      status: response.status,
      ...(typeof error?.scimType === 'string' ? { scimType: error.scimType } : {}),
      ...(typeof error?.detail === 'string' ? { detail: error.detail } : {}),
    },
    deps.log,
  );
  return response;
}

async function answer(deps: ScimDeps, incoming: IncomingScimRequest): Promise<ScimResponse> {
  try {
    if (deps.config.source !== 'scim') {
      throw new ScimError(
        403,
        undefined,
        'SCIM provisioning is turned off: this ScanRelay reads users and groups by directory sync (DIRECTORY_SOURCE=sync).',
      );
    }
    await authenticate(deps.secrets, incoming.headers.authorization, deps.log);
    const { readBody, invocationId: _invocationId, ...request } = incoming;
    return await routeScim(deps, { ...request, body: await readBody() });
  } catch (err) {
    if (err instanceof ScimError) return scimErrorResponse(err.status, err.scimType, err.message);
    // The body's size limit (413 body_too_large): the status and message of ScanRelay's own error.
    if (isAppError(err)) return scimErrorResponse(err.status, undefined, err.message);
    deps.log.error('scim: internal error', describeError(err));
    return scimErrorResponse(
      500,
      undefined,
      `The request could not be completed; if it keeps failing, give your administrator the invocation id ${incoming.invocationId}.`,
    );
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
