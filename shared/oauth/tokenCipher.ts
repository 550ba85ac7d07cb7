/**
 * Encryption of stored tokens: AES-256-GCM, a fresh 96-bit IV per write, the row's identity as
 * additional authenticated data (a ciphertext moved to another row does not decrypt), and the
 * key's version stored with the ciphertext so keys can be rotated while old rows stay readable.
 *
 * The keys live in the secret store as one secret, `token-encryption-keys`:
 *   {"current": "2026-11", "keys": {"2026-11": "<base64 of 32 bytes>", "2025-06": "<...>"}}
 * Rotation: add a key, make it `current`; rows are re-encrypted with it on their next write.
 *
 * In Azure the keys come instead from envelope encryption (./envelopeKeys.ts): a data key per
 * version of a Key Vault key, stored wrapped. Either way the cipher sees a KeySource.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';

export const TOKEN_KEYS_SECRET = 'token-encryption-keys';
const FORMAT = 'g1';
const VERSION_NAME = /^[A-Za-z0-9_-]{1,40}$/;

export interface KeyRing {
  current: string;
  keys: ReadonlyMap<string, Buffer>;
}

/** A stored token cannot be decrypted: tampered, moved to another row, or its key is gone. */
export class TokenDecryptError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TokenDecryptError';
  }
}

/** Parses and validates the key ring secret; errors name what is wrong, never a key. */
export function parseKeyRing(json: string): KeyRing {
  let raw: { current?: unknown; keys?: unknown };
  try {
    raw = JSON.parse(json) as typeof raw;
  } catch {
    throw new Error(`Secret '${TOKEN_KEYS_SECRET}' is not JSON ({"current": "...", "keys": {...}}).`);
  }
  if (!raw || typeof raw.keys !== 'object' || raw.keys === null || typeof raw.current !== 'string') {
    throw new Error(`Secret '${TOKEN_KEYS_SECRET}' needs "current" (a key version) and "keys" (version → base64 key).`);
  }
  const keys = new Map<string, Buffer>();
  for (const [version, value] of Object.entries(raw.keys as Record<string, unknown>)) {
    if (!VERSION_NAME.test(version)) {
      throw new Error(`Secret '${TOKEN_KEYS_SECRET}': key version '${version.slice(0, 40)}' may use only letters, digits, '-' and '_'.`);
    }
    const key = typeof value === 'string' ? Buffer.from(value, 'base64') : Buffer.alloc(0);
    if (key.length !== 32) {
      throw new Error(`Secret '${TOKEN_KEYS_SECRET}': key '${version}' is not 32 bytes of base64.`);
    }
    keys.set(version, key);
  }
  if (!keys.has(raw.current)) {
    throw new Error(`Secret '${TOKEN_KEYS_SECRET}': the current key '${raw.current.slice(0, 40)}' is not among its keys.`);
  }
  return { current: raw.current, keys };
}

/** A new key ring value with one fresh key (for set-up scripts and the local store). */
export function newKeyRingSecret(version = new Date().toISOString().slice(0, 7)): string {
  return JSON.stringify({ current: version, keys: { [version]: randomBytes(32).toString('base64') } });
}

const b64u = (b: Buffer) => b.toString('base64url');

/** Where the cipher's 32-byte keys come from, by version. */
export interface KeySource {
  /** The version new values are sealed with, and its key. */
  current(): Promise<{ version: string; key: Buffer }>;
  /** The key of a version, or undefined when the source has none. */
  key(version: string): Promise<Buffer | undefined>;
  /** Where the keys are kept, for error messages (never a key). */
  readonly description: string;
}

/** A KeySource over a key ring (the secret `token-encryption-keys`). */
export function keyRingSource(keyRing: () => Promise<KeyRing>): KeySource {
  return {
    description: `'${TOKEN_KEYS_SECRET}'`,
    current: async () => {
      const ring = await keyRing();
      return { version: ring.current, key: ring.keys.get(ring.current)! };
    },
    key: async (version) => (await keyRing()).keys.get(version),
  };
}

export class TokenCipher {
  private readonly keys: KeySource;

  /** Over a key ring (the secret store's key ring) or any other KeySource (envelope encryption in Azure). */
  constructor(keys: (() => Promise<KeyRing>) | KeySource) {
    this.keys = typeof keys === 'function' ? keyRingSource(keys) : keys;
  }

  /** Seals `plaintext` for the row named by `context` with the current key. */
  async encrypt(plaintext: string, context: string): Promise<string> {
    const { version, key } = await this.keys.current();
    if (!VERSION_NAME.test(version)) throw new Error(`Key version '${version.slice(0, 40)}' may use only letters, digits, '-' and '_'.`);
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', key, iv);
    cipher.setAAD(Buffer.from(context, 'utf8'));
    const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    return [FORMAT, version, b64u(iv), b64u(cipher.getAuthTag()), b64u(body)].join('.');
  }

  /** Opens a sealed value for the row named by `context`, with whichever key sealed it. */
  async decrypt(sealed: string, context: string): Promise<string> {
    const parts = sealed.split('.');
    if (parts.length !== 5 || parts[0] !== FORMAT) throw new TokenDecryptError('The stored token is not in a known format.');
    const [, version, iv, tag, body] = parts as [string, string, string, string, string];
    if (!VERSION_NAME.test(version)) throw new TokenDecryptError('The stored token is not in a known format.');
    const key = await this.keys.key(version);
    if (!key) {
      throw new TokenDecryptError(`The stored token was sealed with key '${version}', which ${this.keys.description} no longer holds.`);
    }
    try {
      const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(iv, 'base64url'));
      decipher.setAAD(Buffer.from(context, 'utf8'));
      decipher.setAuthTag(Buffer.from(tag, 'base64url'));
      return Buffer.concat([decipher.update(Buffer.from(body, 'base64url')), decipher.final()]).toString('utf8');
    } catch {
      throw new TokenDecryptError('The stored token failed its integrity check (tampered with, or moved from another row).');
    }
  }

  /** The version of the key that sealed a value (to re-encrypt rows after a rotation). */
  static keyVersion(sealed: string): string | undefined {
    return sealed.split('.')[1];
  }
}
