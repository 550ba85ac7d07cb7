/**
 * Application (app-only) access tokens: the client-credentials flow of the app registration, for
 * connectors that act without a signed-in user (OneDrive delivery into the drive of the user a scan
 * job names, with the application permissions User.Read.All and Files.ReadWrite.All; the directory
 * sync). Needs a tenant-specific OAUTH_TENANT: there is no "organizations" app-only token.
 * MSAL keeps the token in its in-memory cache until shortly before it expires.
 */
import type { ConfidentialClientApplication } from '@azure/msal-node';
import { ConfigError } from '../errors';
import type { MsalClients } from './msalClient';

const MULTI_TENANT = new Set(['common', 'organizations', 'consumers']);

export class ApplicationTokens {
  private client?: Promise<ConfidentialClientApplication>;

  constructor(
    private readonly msal: MsalClients,
    private readonly tenant: string,
  ) {}

  /** An app-only token for `resource` (e.g. https://graph.microsoft.com), from the cache unless `forceRefresh`. */
  async get(resource: string, forceRefresh = false): Promise<string> {
    if (MULTI_TENANT.has(this.tenant.toLowerCase())) {
      throw new ConfigError('OAUTH_TENANT', `is '${this.tenant}'; application permissions need your tenant ID or domain.`);
    }
    if (!this.client) {
      this.client = Promise.resolve().then(() => this.msal.createApplication(this.tenant));
      this.client.catch(() => (this.client = undefined));
    }
    const result = await (await this.client).acquireTokenByClientCredential({ scopes: [`${resource}/.default`], skipCache: forceRefresh });
    if (!result?.accessToken) throw new Error('The identity platform returned no application token.');
    return result.accessToken;
  }
}
