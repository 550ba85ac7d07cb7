/**
 * SCIM errors (RFC 7644 §3.12): an HTTP status, an optional `scimType` and a `detail` written for
 * the administrator reading Entra's provisioning log. Never a stack trace, a token or a secret.
 */

export type ScimType =
  | 'invalidFilter'
  | 'tooMany'
  | 'uniqueness'
  | 'mutability'
  | 'invalidSyntax'
  | 'invalidPath'
  | 'noTarget'
  | 'invalidValue'
  | 'invalidVers'
  | 'sensitive';

/** SCIM's own error (answered in the SCIM error schema, not as a ScanRelay error code). */
export class ScimError extends Error {
  constructor(
    readonly status: number,
    readonly scimType: ScimType | undefined,
    detail: string,
  ) {
    super(detail);
    this.name = 'ScimError';
  }
}

/** 400 with a scimType: the request cannot be applied as sent. */
export const badRequest = (scimType: ScimType, detail: string) => new ScimError(400, scimType, detail);
export const notFound = (detail: string) => new ScimError(404, undefined, detail);
export const conflict = (detail: string) => new ScimError(409, 'uniqueness', detail);
export const preconditionFailed = (detail: string) => new ScimError(412, undefined, detail);

export function isScimError(err: unknown): err is ScimError {
  return err instanceof ScimError;
}
