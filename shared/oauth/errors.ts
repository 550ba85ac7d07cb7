import { AppError } from '../errors';

/** The connection's authorization is gone (revoked, expired, or never given): an administrator must authorize it again. */
export class ReauthorizationRequiredError extends AppError {
  constructor(connectionId: string, reason: string) {
    super('reauthorization_required', `Connection '${connectionId}' must be authorized again: ${reason}`);
  }
}

export class ConnectionNotFoundError extends AppError {
  constructor(connectionId: string) {
    super('connection_not_found', `There is no connection '${connectionId}'.`);
  }
}

/** The Microsoft consumer tenant: personal Microsoft accounts sign in there. */
export const CONSUMER_TENANT_ID = '9188040d-6c67-4c5b-b112-36a304b66dad';

/** OIDC scopes Entra does not list among the granted scopes of a token response. */
export const OIDC_SCOPES = new Set(['openid', 'profile', 'offline_access', 'email']);
