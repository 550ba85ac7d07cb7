/**
 * The client assertion of a federated identity credential: a token of the app's user-assigned
 * managed identity for `api://AzureADTokenExchange`, which Entra accepts in place of the app
 * registration's client secret when the registration has a federated credential naming the
 * identity (issuer `https://login.microsoftonline.com/<tenant>/v2.0`, subject = the identity's
 * object ID, audience `api://AzureADTokenExchange`).
 * https://learn.microsoft.com/entra/workload-id/workload-identity-federation-config-app-trust-managed-identity
 *
 * The assertion is kept until five minutes before it expires, and one request at a time is made
 * for it (MSAL asks for one on every token request).
 */
import { ManagedIdentityCredential, type TokenCredential } from '@azure/identity';

/** The audience (and, with `/.default`, the scope) of assertions for Entra's token exchange. */
export const TOKEN_EXCHANGE_AUDIENCE = 'api://AzureADTokenExchange';

const RENEW_BEFORE_MS = 5 * 60_000;

export class ManagedIdentityAssertion {
  private cached?: { token: string; renewAt: number };
  private pending?: Promise<string>;

  constructor(
    private readonly clientId: string,
    private readonly credential: TokenCredential = new ManagedIdentityCredential({ clientId }),
    private readonly now: () => number = Date.now,
  ) {}

  /** MSAL's `clientAssertion` callback. */
  readonly callback = (): Promise<string> => this.get();

  get(): Promise<string> {
    if (this.cached && this.now() < this.cached.renewAt) return Promise.resolve(this.cached.token);
    this.pending ??= this.fetch().finally(() => {
      this.pending = undefined;
    });
    return this.pending;
  }

  private async fetch(): Promise<string> {
    let token;
    try {
      token = await this.credential.getToken(`${TOKEN_EXCHANGE_AUDIENCE}/.default`);
    } catch (err) {
      throw new Error(
        `The managed identity ${this.clientId} (AZURE_CLIENT_ID) gave no token for ${TOKEN_EXCHANGE_AUDIENCE}, the app registration's client assertion (OAUTH_CLIENT_CREDENTIAL=managedIdentity): ${(err as Error).message}`,
        { cause: err },
      );
    }
    if (!token?.token) throw new Error(`The managed identity ${this.clientId} returned no token for ${TOKEN_EXCHANGE_AUDIENCE}.`);
    const renewAt = Math.max(this.now(), token.expiresOnTimestamp - RENEW_BEFORE_MS);
    this.cached = { token: token.token, renewAt };
    return token.token;
  }
}
