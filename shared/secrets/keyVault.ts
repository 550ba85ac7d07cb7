import { DefaultAzureCredential } from '@azure/identity';
import { SecretClient } from '@azure/keyvault-secrets';
import { SecretNotFoundError } from '../errors';
import { assertSecretName, type SecretStore } from './types';

/** How long a value read from Key Vault is reused before it is read again. */
const CACHE_MS = 5 * 60 * 1000;

/** Secrets in Azure Key Vault, read with the app's managed identity (DefaultAzureCredential). */
export class KeyVaultSecretStore implements SecretStore {
  private readonly client: SecretClient;
  private readonly cache = new Map<string, { value: string | undefined; until: number }>();

  constructor(
    private readonly vaultUrl: string,
    managedIdentityClientId?: string,
    client?: SecretClient,
  ) {
    this.client = client ?? new SecretClient(vaultUrl, new DefaultAzureCredential({ managedIdentityClientId }));
  }

  async get(name: string): Promise<string> {
    const value = await this.tryGet(name);
    if (value === undefined) {
      throw new SecretNotFoundError(name, `Secret '${name}' not found in Key Vault ${this.vaultUrl}.`);
    }
    return value;
  }

  async tryGet(name: string): Promise<string | undefined> {
    assertSecretName(name);
    const hit = this.cache.get(name);
    if (hit && hit.until > Date.now()) return hit.value;
    let value: string | undefined;
    try {
      value = (await this.client.getSecret(name)).value;
    } catch (err) {
      if ((err as { statusCode?: number }).statusCode !== 404) throw err;
    }
    this.cache.set(name, { value, until: Date.now() + CACHE_MS });
    return value;
  }

  async expiresOn(name: string): Promise<Date | undefined> {
    assertSecretName(name);
    try {
      return (await this.client.getSecret(name)).properties.expiresOn;
    } catch (err) {
      if ((err as { statusCode?: number }).statusCode === 404) return undefined;
      throw err;
    }
  }

  async set(name: string, value: string): Promise<void> {
    assertSecretName(name);
    await this.client.setSecret(name, value);
    this.cache.set(name, { value, until: Date.now() + CACHE_MS });
  }
}
