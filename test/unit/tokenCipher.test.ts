import { randomBytes } from 'node:crypto';
import { TokenCipher, TokenDecryptError, newKeyRingSecret, parseKeyRing, type KeyRing } from '../../shared/oauth/tokenCipher';

const key = () => randomBytes(32).toString('base64');
const ring = (current: string, keys: Record<string, string>): KeyRing => parseKeyRing(JSON.stringify({ current, keys }));
const cache = JSON.stringify({ RefreshToken: { x: { secret: '0.AXkA-refresh-token-value' } } });

describe('TokenCipher', () => {
  const k1 = key();
  const k2 = key();
  const old = new TokenCipher(async () => ring('v1', { v1: k1 }));
  const rotated = new TokenCipher(async () => ring('v2', { v1: k1, v2: k2 }));

  it('round-trips, with no token in clear in the sealed value', async () => {
    const sealed = await old.encrypt(cache, 'conn-1');
    expect(sealed).not.toContain('refresh-token-value');
    expect(sealed.startsWith('g1.v1.')).toBe(true);
    await expect(old.decrypt(sealed, 'conn-1')).resolves.toBe(cache);
  });

  it('uses a fresh IV for every write', async () => {
    const a = await old.encrypt(cache, 'conn-1');
    const b = await old.encrypt(cache, 'conn-1');
    expect(a).not.toBe(b);
    expect(a.split('.')[2]).not.toBe(b.split('.')[2]);
  });

  it('after a rotation reads rows sealed with the old key and seals new ones with the new key', async () => {
    const before = await old.encrypt(cache, 'conn-1');
    await expect(rotated.decrypt(before, 'conn-1')).resolves.toBe(cache);
    const after = await rotated.encrypt(cache, 'conn-1');
    expect(TokenCipher.keyVersion(after)).toBe('v2');
    await expect(old.decrypt(after, 'conn-1')).rejects.toThrow(/key 'v2'/);
  });

  it('refuses a value moved to another row, tampered with, or in an unknown format', async () => {
    const sealed = await old.encrypt(cache, 'conn-1');
    await expect(old.decrypt(sealed, 'conn-2')).rejects.toBeInstanceOf(TokenDecryptError);
    const parts = sealed.split('.');
    const body = Buffer.from(parts[4]!, 'base64url');
    body[0]! ^= 1;
    parts[4] = body.toString('base64url');
    await expect(old.decrypt(parts.join('.'), 'conn-1')).rejects.toBeInstanceOf(TokenDecryptError);
    await expect(old.decrypt('plain text', 'conn-1')).rejects.toThrow('not in a known format');
  });
});

describe('parseKeyRing', () => {
  it('accepts a generated secret', () => {
    const r = parseKeyRing(newKeyRingSecret('2026-11'));
    expect(r.current).toBe('2026-11');
    expect(r.keys.get('2026-11')).toHaveLength(32);
  });

  it.each([
    ['not JSON', 'nope', /not JSON/],
    ['no current', JSON.stringify({ keys: {} }), /needs "current"/],
    ['a short key', JSON.stringify({ current: 'a', keys: { a: randomBytes(16).toString('base64') } }), /not 32 bytes/],
    ['current missing from keys', JSON.stringify({ current: 'b', keys: { a: key() } }), /current key 'b'/],
    ['a bad version name', JSON.stringify({ current: 'a.b', keys: { 'a.b': key() } }), /may use only/],
  ])('rejects %s, naming the problem but no key', (_n, json, message) => {
    let error: Error | undefined;
    try {
      parseKeyRing(json);
    } catch (e) {
      error = e as Error;
    }
    expect(error?.message).toMatch(message);
    const keys = json.startsWith('{') ? Object.values((JSON.parse(json) as { keys: Record<string, string> }).keys) : [];
    for (const k of keys) expect(error!.message).not.toContain(k);
  });
});
