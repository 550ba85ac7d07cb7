/**
 * Builds MSAL confidential clients for connections. The identity platform's host and tenant are
 * settings: the authority's metadata is read once from
 * `{host}/{tenant}/v2.0/.well-known/openid-configuration` and handed to MSAL with the host as a
 * known authority, so sovereign clouds and test servers work the same way as the global cloud.
 *
 * The client's credential: with OAUTH_CLIENT_CREDENTIAL=managedIdentity (Bicep's setting in
 * Azure) a client assertion from the managed identity AZURE_CLIENT_ID (the app registration's
 * federated identity credential), for every registration, the default one and per-type ones;
 * no secret is read. Otherwise (local development, other hosts) the client secret of the secret
 * store: `oauth-client-secret`, or `oauth-client-secret-<type>` for a type's own registration.
 */
import { ConfidentialClientApplication, LogLevel, type ICachePlugin, type INetworkModule } from '@azure/msal-node';
import type { OAuthConfig } from '../config';
import { ConfigError } from '../errors';
import type { SecretStore } from '../secrets';
import { ManagedIdentityAssertion } from './managedIdentityAssertion';
import type { ConnectionType } from './permissions';

/** The secret holding the default app registration's client secret. */
export const OAUTH_CLIENT_SECRET = 'oauth-client-secret';

/** A connection type's own client secret, used with `OAUTH_CLIENT_ID_<TYPE>`: `oauth-client-secret-<type>`. */
export function clientSecretName(type: ConnectionType, config: OAuthConfig): string {
  return config.clientIdByType[type.toUpperCase()] ? `${OAUTH_CLIENT_SECRET}-${type.toLowerCase()}` : OAUTH_CLIENT_SECRET;
}

/**
 * What an error's sentence may name about the app registration of a connection type (nothing
 * secret): its client ID (absent when none is configured), its secret's name, the managed identity.
 */
export function registrationFacts(
  type: ConnectionType,
  config: OAuthConfig,
): { clientId?: string; secretName: string; managedIdentityClientId?: string } {
  const id = config.clientIdByType[type.toUpperCase()] ?? config.clientId;
  return { clientId: id, secretName: clientSecretName(type, config), managedIdentityClientId: config.federatedIdentity?.clientId };
}

export function clientIdFor(type: ConnectionType, config: OAuthConfig): string {
  const id = config.clientIdByType[type.toUpperCase()] ?? config.clientId;
  if (!id) throw new ConfigError('OAUTH_CLIENT_ID', 'is not set: register the app (see README) and set its client ID.');
  return id;
}

export class MsalClients {
  private readonly metadata = new Map<string, Promise<string>>();
  private readonly assertion?: ManagedIdentityAssertion;

  constructor(
    private readonly config: OAuthConfig,
    private readonly secrets: Pick<SecretStore, 'get'>,
    /** MSAL's HTTP client; MSAL's own when absent (the benchmark passes a timing one). */
    private readonly networkClient?: INetworkModule,
  ) {
    if (config.federatedIdentity) this.assertion = new ManagedIdentityAssertion(config.federatedIdentity.clientId);
  }

  /** How the clients authenticate: `managedIdentity` (federated credential) or `clientSecret`. */
  get credentialKind(): 'managedIdentity' | 'clientSecret' {
    return this.assertion ? 'managedIdentity' : 'clientSecret';
  }

  authority(tenant = this.config.tenant): string {
    return `${this.config.authorityHost}/${tenant}`;
  }

  /** A client for one connection type (and, with a cache plugin, one connection's tokens). */
  create(type: ConnectionType, cachePlugin?: ICachePlugin, tenant = this.config.tenant): Promise<ConfidentialClientApplication> {
    return this.build(clientIdFor(type, this.config), clientSecretName(type, this.config), tenant, cachePlugin);
  }

  /** A client of the default app registration for app-only (client-credentials) tokens in `tenant`. */
  createApplication(tenant: string): Promise<ConfidentialClientApplication> {
    if (!this.config.clientId) throw new ConfigError('OAUTH_CLIENT_ID', 'is not set: register the app (see README) and set its client ID.');
    return this.build(this.config.clientId, OAUTH_CLIENT_SECRET, tenant);
  }

  private async build(
    clientId: string,
    secretName: string,
    tenant: string,
    cachePlugin?: ICachePlugin,
  ): Promise<ConfidentialClientApplication> {
    const authority = this.authority(tenant);
    return new ConfidentialClientApplication({
      auth: {
        clientId,
        ...(this.assertion ? { clientAssertion: this.assertion.callback } : { clientSecret: await this.secrets.get(secretName) }),
        authority,
        knownAuthorities: [new URL(this.config.authorityHost).host],
        authorityMetadata: await this.authorityMetadata(authority),
      },
      cache: cachePlugin ? { cachePlugin } : undefined,
      system: {
        loggerOptions: { logLevel: LogLevel.Warning, piiLoggingEnabled: false, loggerCallback: () => undefined },
        ...(this.networkClient ? { networkClient: this.networkClient } : {}),
      },
    });
  }

  private authorityMetadata(authority: string): Promise<string> {
    let pending = this.metadata.get(authority);
    if (!pending) {
      pending = fetch(`${authority}/v2.0/.well-known/openid-configuration`).then(async (res) => {
        if (!res.ok) throw new Error(`The identity platform's metadata at ${authority} answered ${res.status}.`);
        return res.text();
      });
      pending.catch(() => this.metadata.delete(authority));
      this.metadata.set(authority, pending);
    }
    return pending;
  }
}
