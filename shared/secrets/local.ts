import { promises as fs } from 'node:fs';
import { SecretNotFoundError } from '../errors';
import { assertSecretName, type SecretStore } from './types';

/** The environment variable that holds secret `a-b-c` locally: `SECRET_A_B_C`. */
export function secretEnvName(name: string): string {
  return `SECRET_${name.toUpperCase().replace(/-/g, '_')}`;
}

/**
 * Development secret store: a secret `a-b-c` comes from the environment variable `SECRET_A_B_C`
 * (so local.settings.json Values work), else from the git-ignored JSON file (an object of
 * name → value). `set` writes to that file.
 */
export class LocalSecretStore implements SecretStore {
  constructor(
    private readonly file: string,
    private readonly env: NodeJS.ProcessEnv = process.env,
  ) {}

  async get(name: string): Promise<string> {
    const value = await this.tryGet(name);
    if (value === undefined) {
      throw new SecretNotFoundError(
        name,
        `Secret '${name}' not found: set the environment variable ${secretEnvName(name)} ` + `or add "${name}" to ${this.file}.`,
      );
    }
    return value;
  }

  async tryGet(name: string): Promise<string | undefined> {
    assertSecretName(name);
    const fromEnv = this.env[secretEnvName(name)];
    if (fromEnv !== undefined && fromEnv !== '') return fromEnv;
    const value = (await this.readFile())[name];
    return typeof value === 'string' && value !== '' ? value : undefined;
  }

  /**
   * A secret's expiry: the variable `SECRET_A_B_C_EXPIRES_ON`, else `"a-b-c-expires-on"` in the
   * file (ISO 8601 dates), the local stand-in for Key Vault's expiry attribute.
   */
  async expiresOn(name: string): Promise<Date | undefined> {
    assertSecretName(name);
    const raw = this.env[`${secretEnvName(name)}_EXPIRES_ON`] || (await this.readFile())[`${name}-expires-on`];
    if (typeof raw !== 'string' || !raw) return undefined;
    const date = new Date(raw);
    if (Number.isNaN(date.getTime())) throw new Error(`The expiry of secret '${name}' is not a date (use ISO 8601, e.g. 2027-06-30).`);
    return date;
  }

  async set(name: string, value: string): Promise<void> {
    assertSecretName(name);
    const all = await this.readFile();
    all[name] = value;
    await fs.writeFile(this.file, JSON.stringify(all, null, 2) + '\n', { mode: 0o600 });
    await fs.chmod(this.file, 0o600); // also when the file existed with wider permissions
  }

  private async readFile(): Promise<Record<string, unknown>> {
    let text: string;
    try {
      text = await fs.readFile(this.file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return {};
      throw err;
    }
    try {
      const parsed: unknown = JSON.parse(text);
      if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) return parsed as Record<string, unknown>;
    } catch {
      // fall through: report the file without echoing its contents
    }
    throw new Error(`${this.file} is not a JSON object of secret names to values.`);
  }
}
