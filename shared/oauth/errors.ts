import { AppError } from '../errors';

/** The connection's authorization is gone (revoked, expired, or never given): an administrator must authorize it again. */
export class ReauthorizationRequiredError extends AppError {
  /** `fix`: the app's configuration must be fixed first (a client secret, say), signing in again alone does not help. */
  constructor(connectionId: string, reason: string, wording: 'reauthorize' | 'fix' = 'reauthorize') {
    super(
      'reauthorization_required',
      wording === 'fix'
        ? `Connection '${connectionId}' cannot get tokens until its app registration is fixed: ${reason}`
        : `Connection '${connectionId}' must be authorized again: ${reason}`,
    );
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
