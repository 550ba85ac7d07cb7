/**
 * The secret store: one small interface, a Key Vault implementation for Azure and a local one
 * for development. Secret names are kebab-case (`extension-shared-secret`, `admin-key`, ...).
 */
import type { SecretsConfig } from '../config';
import { KeyVaultSecretStore } from './keyVault';
import { LocalSecretStore } from './local';
import type { SecretStore } from './types';

export function createSecretStore(config: SecretsConfig, env: NodeJS.ProcessEnv = process.env): SecretStore {
  return config.kind === 'keyVault' ? new KeyVaultSecretStore(config.vaultUrl, config.clientId) : new LocalSecretStore(config.file, env);
}

export { KeyVaultSecretStore, LocalSecretStore };
export { assertSecretName, type SecretStore } from './types';
export { secretEnvName } from './local';
export { secretsEqual } from './compare';
