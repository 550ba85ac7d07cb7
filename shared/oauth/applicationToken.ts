/**
 * Application (app-only) access tokens: the client-credentials flow of the app registration, for
 * connectors that act without a signed-in user (OneDrive delivery into the drive of the user a scan
 * job names, with the application permissions User.Read.All and Files.ReadWrite.All; the directory
 * sync). Needs a tenant-specific OAUTH_TENANT: there is no "organizations" app-only token.
 * The token is kept here, per resource, until five minutes before it expires (asking MSAL's
 * cache for it on every Graph request cost a mailbox ingest about 5 % of its CPU); `forceRefresh`
 * (Graph refused it) asks the identity platform again.
 */
import type { ConfidentialClientApplication } from '@azure/msal-node';
import { ConfigError } from '../errors';
import type { MsalClients } from './msalClient';

const MULTI_TENANT = new Set(['common', 'organizations', 'consumers']);

/** A token is used until this long before it expires. */
const EXPIRY_MARGIN_MS = 5 * 60_000;

export class ApplicationTokens {
  private client?: Promise<ConfidentialClientApplication>;
  private readonly tokens = new Map<string, { token: string; until: number }>();

  constructor(
    private readonly msal: MsalClients,
    private readonly tenant: string,
  ) {}

  /** An app-only token for `resource` (e.g. https://graph.microsoft.com), from the cache unless `forceRefresh`. */
  async get(resource: string, forceRefresh = false): Promise<string> {
    const kept = this.tokens.get(resource);
    if (kept && !forceRefresh && kept.until > Date.now()) return kept.token;
    if (MULTI_TENANT.has(this.tenant.toLowerCase())) {
      throw new ConfigError('OAUTH_TENANT', `is '${this.tenant}'; application permissions need your tenant ID or domain.`);
    }
    if (!this.client) {
      this.client = Promise.resolve().then(() => this.msal.createApplication(this.tenant));
      this.client.catch(() => (this.client = undefined));
    }
    const result = await (await this.client).acquireTokenByClientCredential({ scopes: [`${resource}/.default`], skipCache: forceRefresh });
    if (!result?.accessToken) throw new Error('The identity platform returned no application token.');
    const expires = result.expiresOn?.getTime();
    if (expires) this.tokens.set(resource, { token: result.accessToken, until: expires - EXPIRY_MARGIN_MS });
    else this.tokens.delete(resource);
    return result.accessToken;
  }
}
