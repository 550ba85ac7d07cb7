/** LocalSecretStore: SECRET_A_B_C environment variables first, then a git-ignored JSON file. */
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SecretNotFoundError } from '../../shared/errors';
import { LocalSecretStore, secretEnvName } from '../../shared/secrets';

let dir: string;
let file: string;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'scanrelay-secrets-'));
  file = join(dir, 'secrets.json');
});

afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

const writeSecrets = (values: unknown) => writeFileSync(file, JSON.stringify(values));

describe('secretEnvName', () => {
  it('upper-cases and replaces dashes', () => {
    expect(secretEnvName('admin-key')).toBe('SECRET_ADMIN_KEY');
    expect(secretEnvName('extension-shared-secret')).toBe('SECRET_EXTENSION_SHARED_SECRET');
    expect(secretEnvName('a-b-c')).toBe('SECRET_A_B_C');
  });
});

describe('LocalSecretStore', () => {
  it('takes the environment variable over the file', async () => {
    writeSecrets({ 'a-b-c': 'from-file' });
    const store = new LocalSecretStore(file, { SECRET_A_B_C: 'from-env' });
    await expect(store.get('a-b-c')).resolves.toBe('from-env');
    await expect(store.tryGet('a-b-c')).resolves.toBe('from-env');
  });

  it('falls back to the file when the variable is unset or empty', async () => {
    writeSecrets({ 'a-b-c': 'from-file', 'other-secret': 'other' });
    await expect(new LocalSecretStore(file, {}).get('a-b-c')).resolves.toBe('from-file');
    await expect(new LocalSecretStore(file, { SECRET_A_B_C: '' }).get('a-b-c')).resolves.toBe('from-file');
    await expect(new LocalSecretStore(file, { SECRET_A_B_C: 'x' }).get('other-secret')).resolves.toBe('other');
  });

  it('reads the environment it was given, not process.env', async () => {
    process.env.SECRET_PROCESS_ONLY = 'leaked';
    try {
      await expect(new LocalSecretStore(file, {}).tryGet('process-only')).resolves.toBeUndefined();
    } finally {
      delete process.env.SECRET_PROCESS_ONLY;
    }
  });

  it('works with no file at all', async () => {
    const store = new LocalSecretStore(file, { SECRET_ADMIN_KEY: 'k' });
    await expect(store.get('admin-key')).resolves.toBe('k');
    await expect(store.tryGet('missing-secret')).resolves.toBeUndefined();
  });

  it('treats an empty or non-string value in the file as missing', async () => {
    writeSecrets({ 'empty-secret': '', 'number-secret': 42, 'object-secret': { a: 1 } });
    const store = new LocalSecretStore(file, {});
    for (const name of ['empty-secret', 'number-secret', 'object-secret']) {
      await expect(store.tryGet(name)).resolves.toBeUndefined();
    }
  });

  it('says where it looked when a secret is missing: the variable and the file', async () => {
    writeSecrets({ 'other-secret': 'x' });
    const store = new LocalSecretStore(file, {});
    await expect(store.tryGet('admin-key')).resolves.toBeUndefined();
    const err = await store.get('admin-key').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SecretNotFoundError);
    expect((err as SecretNotFoundError).secretName).toBe('admin-key');
    expect((err as Error).message).toContain('SECRET_ADMIN_KEY');
    expect((err as Error).message).toContain(file);
  });

  it('set() writes the file with mode 0600, and get() reads it back', async () => {
    const store = new LocalSecretStore(file, {});
    await store.set('admin-key', 'first');
    await store.set('extension-shared-secret', 's3cret');
    await expect(store.get('admin-key')).resolves.toBe('first');
    await expect(store.get('extension-shared-secret')).resolves.toBe('s3cret');
    expect(JSON.parse(readFileSync(file, 'utf8'))).toEqual({ 'admin-key': 'first', 'extension-shared-secret': 's3cret' });
    if (process.platform !== 'win32') expect(statSync(file).mode & 0o777).toBe(0o600);

    await store.set('admin-key', 'second');
    await expect(new LocalSecretStore(file, {}).get('admin-key')).resolves.toBe('second');
    expect(JSON.parse(readFileSync(file, 'utf8'))).toEqual({ 'admin-key': 'second', 'extension-shared-secret': 's3cret' });
  });

  it('set() narrows an existing file with wider permissions to 0600', async () => {
    if (process.platform === 'win32') return;
    writeSecrets({ 'keep-me': 'kept' });
    chmodSync(file, 0o644);
    await new LocalSecretStore(file, {}).set('admin-key', 'x');
    expect(statSync(file).mode & 0o777).toBe(0o600);
  });

  it('set() keeps the other secrets already in the file', async () => {
    writeSecrets({ 'keep-me': 'kept' });
    await new LocalSecretStore(file, {}).set('new-secret', 'new');
    expect(JSON.parse(readFileSync(file, 'utf8'))).toEqual({ 'keep-me': 'kept', 'new-secret': 'new' });
  });

  it.each(['Admin-Key', 'admin_key', 'admin key', 'admin--key', '-admin', 'admin-', '', 'a/b', '../etc', 'a'.repeat(128)])(
    'rejects the non-kebab-case name %p in get, tryGet and set',
    async (name) => {
      const store = new LocalSecretStore(file, {});
      await expect(store.get(name)).rejects.toThrow(/kebab-case/);
      await expect(store.tryGet(name)).rejects.toThrow(/kebab-case/);
      await expect(store.set(name, 'x')).rejects.toThrow(/kebab-case/);
    },
  );

  it('accepts kebab-case names up to 127 characters', async () => {
    const store = new LocalSecretStore(file, {});
    for (const name of ['a', 'a1', 'admin-key', '2fa-seed-3', 'a'.repeat(127)]) {
      await store.set(name, `value of ${name}`);
      await expect(store.get(name)).resolves.toBe(`value of ${name}`);
    }
  });

  it.each([
    ['truncated JSON', '{"admin-key": "hunter2-TOPSECRET", "other": '],
    ['a JSON array', '["hunter2-TOPSECRET"]'],
    ['a JSON string', '"hunter2-TOPSECRET"'],
    ['not JSON at all', 'admin-key=hunter2-TOPSECRET\n'],
  ])('reports a corrupt file (%s) without echoing its contents', async (_what, contents) => {
    writeFileSync(file, contents);
    const store = new LocalSecretStore(file, {});
    for (const attempt of [() => store.get('admin-key'), () => store.tryGet('admin-key'), () => store.set('admin-key', 'x')]) {
      const err = (await attempt().then(
        () => undefined,
        (e: unknown) => e,
      )) as Error | undefined;
      expect(err).toBeInstanceOf(Error);
      expect(err!.message).toContain(file);
      expect(err!.message).not.toContain('hunter2');
      expect(String(err!.stack)).not.toContain('hunter2');
    }
    // set() must not have overwritten the broken file (the user may want to repair it).
    expect(readFileSync(file, 'utf8')).toBe(contents);
  });

  it('still serves environment variables when the file is corrupt', async () => {
    writeFileSync(file, '{ broken');
    await expect(new LocalSecretStore(file, { SECRET_ADMIN_KEY: 'k' }).get('admin-key')).resolves.toBe('k');
  });
});
