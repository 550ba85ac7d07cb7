/** The secret store's interface and naming rule. */
export interface SecretStore {
  /** The secret's value; throws SecretNotFoundError (naming where it looked) when it is absent. */
  get(name: string): Promise<string>;
  /** The secret's value, or undefined when it is absent. */
  tryGet(name: string): Promise<string | undefined>;
  /** Creates or replaces the secret. */
  set(name: string, value: string): Promise<void>;
  /** When the secret expires, where the store records it (undefined: no expiry known). */
  expiresOn(name: string): Promise<Date | undefined>;
}

const SECRET_NAME = /^[a-z0-9]+(-[a-z0-9]+)*$/;

/** Throws unless the name is kebab-case (also a valid Key Vault secret name). */
export function assertSecretName(name: string): void {
  if (!SECRET_NAME.test(name) || name.length > 127) {
    throw new Error(`Secret name '${name}' is not kebab-case (lowercase letters, digits and single dashes).`);
  }
}
