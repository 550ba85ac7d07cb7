/**
 * Envelope encryption of the token keys in Azure: the 32-byte data keys that seal stored tokens
 * (TokenCipher) are never kept in clear anywhere in Azure. There is one data key per version of
 * a Key Vault RSA key (setting TOKEN_WRAPPING_KEY); it is stored in Table Storage (`tokenkeys`)
 * wrapped with that version (RSA-OAEP-256), and unwrapped by Key Vault, once per process and
 * version, into memory only. The app's identity has Key Vault Crypto User on the key: it can
 * wrap and unwrap, and never read the private key.
 *
 * - A new data key is made and wrapped locally with the version's public key (the data key is
 *   sent nowhere), then inserted if absent: two instances racing both use the row stored first.
 * - The current version is the key's latest, read at most once an hour. Rotation is a new key
 *   version (Key Vault's rotation policy makes one): new values are sealed with a new data key,
 *   and values sealed before still name their version, whose wrapped key stays in the table.
 * - Values sealed with the secret key ring before TOKEN_WRAPPING_KEY was set are still read
 *   through `fallback` (the secret `token-encryption-keys`), while that secret exists.
 */
import { constants, createPublicKey, publicEncrypt, randomBytes } from 'node:crypto';
import type { TokenCredential } from '@azure/identity';
import { CryptographyClient, KeyClient, type JsonWebKey, type KeyClientOptions } from '@azure/keyvault-keys';
import type { WrappedDataKey } from '../storage/tokenKeys';
import type { KeySource } from './tokenCipher';

export const WRAP_ALGORITHM = 'RSA-OAEP-256';
/** How long the key's latest version is reused before Key Vault is asked again. */
export const LATEST_VERSION_CACHE_MS = 60 * 60 * 1000;

/** Token keys cannot be had: the message says what to fix, and never carries key material. */
export class TokenKeyError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'TokenKeyError';
  }
}

export interface KeyVersion {
  version: string;
  /** https://<vault>/keys/<name>/<version> */
  kid: string;
  /** The public part (n, e) of the RSA key. */
  publicKey: { n: Buffer; e: Buffer };
}

/** The Key Vault key that wraps the data keys. */
export interface WrappingKey {
  /** For messages: the key's name and vault. */
  readonly description: string;
  latest(): Promise<KeyVersion>;
  /** Wraps with the version's public key, locally. */
  wrap(version: KeyVersion, dataKey: Buffer): Promise<Buffer>;
  /** Unwraps with the private key, which only Key Vault holds. */
  unwrap(kid: string, wrapped: Buffer): Promise<Buffer>;
}

export interface WrappedKeyStore {
  get(version: string): Promise<WrappedDataKey | undefined>;
  insertIfAbsent(key: WrappedDataKey): Promise<WrappedDataKey>;
}

const statusOf = (err: unknown) => (err as { statusCode?: number } | undefined)?.statusCode;

/** The wrapping key in Azure Key Vault, over @azure/keyvault-keys. */
export class KeyVaultWrappingKey implements WrappingKey {
  readonly description: string;
  private readonly keys: KeyClient;
  private readonly crypto = new Map<string, CryptographyClient>();

  constructor(
    vaultUrl: string,
    private readonly keyName: string,
    private readonly credential: TokenCredential,
    private readonly clientOptions: KeyClientOptions = {},
  ) {
    this.description = `Key Vault key '${keyName}' (TOKEN_WRAPPING_KEY) in ${vaultUrl}`;
    this.keys = new KeyClient(vaultUrl, credential, clientOptions);
  }

  async latest(): Promise<KeyVersion> {
    const key = await this.explain('read', () => this.keys.getKey(this.keyName));
    const jwk: JsonWebKey | undefined = key.key;
    if (!key.id || !key.properties.version || !jwk?.n || !jwk.e || !/^RSA/.test(String(key.keyType ?? jwk.kty))) {
      throw new TokenKeyError(
        `${this.description} is not an RSA key: TOKEN_WRAPPING_KEY must name an RSA key (the infrastructure creates one).`,
      );
    }
    if (key.properties.enabled === false)
      throw new TokenKeyError(`The latest version of ${this.description} is disabled: enable it or rotate the key.`);
    return { version: key.properties.version, kid: key.id, publicKey: { n: Buffer.from(jwk.n), e: Buffer.from(jwk.e) } };
  }

  wrap(version: KeyVersion, dataKey: Buffer): Promise<Buffer> {
    const publicKey = createPublicKey({
      key: { kty: 'RSA', n: version.publicKey.n.toString('base64url'), e: version.publicKey.e.toString('base64url') },
      format: 'jwk',
    });
    return Promise.resolve(publicEncrypt({ key: publicKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' }, dataKey));
  }

  async unwrap(kid: string, wrapped: Buffer): Promise<Buffer> {
    let client = this.crypto.get(kid);
    if (!client) {
      client = new CryptographyClient(kid, this.credential, this.clientOptions);
      this.crypto.set(kid, client);
    }
    const result = await this.explain('unwrap', () => client.unwrapKey(WRAP_ALGORITHM, wrapped));
    return Buffer.from(result.result);
  }

  private async explain<T>(operation: 'read' | 'unwrap', work: () => Promise<T>): Promise<T> {
    try {
      return await work();
    } catch (err) {
      const status = statusOf(err);
      if (status === 404) {
        throw new TokenKeyError(
          `${this.description} was not found (or that version of it): deploy the infrastructure, which creates the key, ` +
            'or set TOKEN_WRAPPING_KEY to the name of an RSA key in KEY_VAULT_URL.',
          { cause: err },
        );
      }
      if (status === 403) {
        throw new TokenKeyError(
          `The app's identity may not ${operation === 'read' ? 'read' : 'unwrap with'} ${this.description}: ` +
            'give it the role Key Vault Crypto User on the key (the infrastructure does; role assignments take a few minutes).',
          { cause: err },
        );
      }
      if (status === 401) {
        throw new TokenKeyError(
          `Key Vault refused the app's token for ${this.description}: check AZURE_CLIENT_ID (the managed identity).`,
          {
            cause: err,
          },
        );
      }
      throw new TokenKeyError(`Key Vault failed to ${operation} with ${this.description}: ${(err as Error)?.message ?? String(err)}`, {
        cause: err,
      });
    }
  }
}

export interface EnvelopeOptions {
  /** Where keys of versions the table does not know come from (the secret key ring, for values sealed before). */
  fallback?: KeySource;
  latestCacheMs?: number;
  now?: () => number;
}

/** The TokenCipher's keys by envelope encryption: see the file comment. */
export class EnvelopeKeySource implements KeySource {
  readonly description: string;
  private latestVersion?: { value: Promise<KeyVersion>; until: number };
  /** Unwrapped data keys by version, in this process's memory only. */
  private readonly dataKeys = new Map<string, Promise<Buffer | undefined>>();

  constructor(
    private readonly wrapping: WrappingKey,
    private readonly store: WrappedKeyStore,
    private readonly options: EnvelopeOptions = {},
  ) {
    this.description = `the table of keys wrapped by ${wrapping.description}${options.fallback ? ` nor ${options.fallback.description}` : ''}`;
  }

  async current(): Promise<{ version: string; key: Buffer }> {
    const latest = await this.latest();
    const key = await this.memo(latest.version, () => this.loadOrCreate(latest));
    return { version: latest.version, key: key! };
  }

  key(version: string): Promise<Buffer | undefined> {
    return this.memo(version, async () => {
      const row = await this.store.get(version);
      if (row) return this.unwrap(row);
      return this.options.fallback?.key(version);
    });
  }

  private now(): number {
    return (this.options.now ?? Date.now)();
  }

  private latest(): Promise<KeyVersion> {
    if (!this.latestVersion || this.latestVersion.until < this.now()) {
      const value = this.wrapping.latest();
      value.catch(() => (this.latestVersion = undefined));
      this.latestVersion = { value, until: this.now() + (this.options.latestCacheMs ?? LATEST_VERSION_CACHE_MS) };
    }
    return this.latestVersion.value;
  }

  /** One load per version at a time; a key found is kept, a miss or failure is tried again next time. */
  private memo(version: string, load: () => Promise<Buffer | undefined>): Promise<Buffer | undefined> {
    let hit = this.dataKeys.get(version);
    if (!hit) {
      hit = load();
      this.dataKeys.set(version, hit);
      hit.then(
        (key) => key === undefined && this.dataKeys.delete(version),
        () => this.dataKeys.delete(version),
      );
    }
    return hit;
  }

  private async loadOrCreate(latest: KeyVersion): Promise<Buffer> {
    const row = await this.store.get(latest.version);
    if (row) return this.unwrap(row);
    const dataKey = randomBytes(32);
    const wrapped = await this.wrapping.wrap(latest, dataKey);
    const stored = await this.store.insertIfAbsent({ version: latest.version, kid: latest.kid, alg: WRAP_ALGORITHM, wrapped });
    // Another instance inserted first: use its key, so that every instance seals with the same one.
    return stored.wrapped.equals(wrapped) ? dataKey : this.unwrap(stored);
  }

  private async unwrap(row: WrappedDataKey): Promise<Buffer> {
    if (row.alg !== WRAP_ALGORITHM)
      throw new TokenKeyError(`The data key of key version '${row.version}' is wrapped with ${row.alg}, not ${WRAP_ALGORITHM}.`);
    const key = await this.wrapping.unwrap(row.kid, row.wrapped);
    if (key.length !== 32) throw new TokenKeyError(`The data key of key version '${row.version}' did not unwrap to 32 bytes.`);
    return key;
  }
}
