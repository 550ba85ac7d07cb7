/** The connection and token-cache repositories against Azurite: ETag-guarded writes. */
import { randomUUID } from 'node:crypto';
import { ConcurrentWriteError } from '../../shared/storage';
import { startStack, type TestStack } from '../helpers/env';

let stack: TestStack;
beforeAll(async () => {
  stack = await startStack();
});
afterAll(async () => {
  await stack?.stop();
});

describe('ConnectionRepository', () => {
  it('creates, reads, lists, updates with the ETag and deletes', async () => {
    const repo = stack.services.storage.connections;
    const id = randomUUID();
    const created = await repo.create({ id, type: 'smtpMicrosoft', tenant: 'organizations', displayName: 'Scans mailbox' });
    expect(created.state).toBe('pending');
    await expect(repo.create({ id, type: 'smtpMicrosoft', tenant: 't', displayName: 'x' })).rejects.toThrow('already exists');

    const updated = await repo.update(created, {
      state: 'authorized',
      account: { upn: 'scans@contoso.com', oid: 'oid-1', tid: 'tid-1', homeAccountId: 'home-oid.home-tid' },
      grantedScopes: ['https://outlook.office.com/SMTP.Send', 'offline_access'],
      lastRefreshAt: new Date('2026-11-23T10:00:00Z'),
    });
    expect(updated?.state).toBe('authorized');
    const read = await repo.get(id);
    expect(read).toMatchObject({
      state: 'authorized',
      account: { upn: 'scans@contoso.com', oid: 'oid-1', tid: 'tid-1', homeAccountId: 'home-oid.home-tid' },
      grantedScopes: ['https://outlook.office.com/SMTP.Send', 'offline_access'],
      lastRefreshAt: new Date('2026-11-23T10:00:00Z'),
      consecutiveFailures: 0,
    });
    expect((await repo.list()).map((c) => c.id)).toContain(id);

    // A writer holding the old ETag loses, and changes nothing.
    expect(await repo.update(created, { state: 'error', lastError: 'stale writer' })).toBeUndefined();
    expect((await repo.get(id))?.state).toBe('authorized');

    await repo.delete(id);
    expect(await repo.get(id)).toBeUndefined();
  });
});

describe('TokenCacheRepository', () => {
  it('creates once, replaces only with the current ETag, and keeps large caches whole', async () => {
    const repo = stack.services.storage.tokenCaches;
    const id = randomUUID();
    expect(await repo.read(id)).toBeUndefined();
    const big = 'g1.v1.' + 'x'.repeat(100_000);
    const e1 = await repo.write(id, big, undefined);
    await expect(repo.write(id, 'second creator', undefined)).rejects.toBeInstanceOf(ConcurrentWriteError);
    expect(await repo.read(id)).toEqual({ sealed: big, etag: e1 });

    const e2 = await repo.write(id, 'newer', e1);
    await expect(repo.write(id, 'stale writer', e1)).rejects.toBeInstanceOf(ConcurrentWriteError);
    expect(await repo.read(id)).toEqual({ sealed: 'newer', etag: e2 });

    await repo.delete(id);
    expect(await repo.read(id)).toBeUndefined();
  });
});

describe('AuthStateRepository', () => {
  const value = (expiresAt: Date) => ({
    purpose: 'connection' as const,
    connectionId: 'c1',
    connectionType: 'smtpMicrosoft',
    redirectUri: 'https://scanrelay.example/api/oauth2/client/smtpMicrosoft/authorize-callback',
    sealed: 'g1.k1.iv.tag.body',
    expiresAt,
  });

  it('gives a state back once; a replay, a forged state and an expired state are refused', async () => {
    const repo = stack.services.storage.authStates;
    const state = randomUUID();
    await repo.save(state, value(new Date(Date.now() + 600_000)));
    await expect(repo.consume(state)).resolves.toEqual({ ok: true, state: value(expect.any(Date)) });
    await expect(repo.consume(state)).resolves.toEqual({ ok: false, reason: 'unknown' });
    await expect(repo.consume('forged-' + randomUUID())).resolves.toEqual({ ok: false, reason: 'unknown' });

    const old = randomUUID();
    await repo.save(old, value(new Date(Date.now() + 600_000)));
    await expect(repo.consume(old, new Date(Date.now() + 601_000))).resolves.toEqual({ ok: false, reason: 'expired' });
  });

  it('lets exactly one of two concurrent callbacks with the same state through', async () => {
    const repo = stack.services.storage.authStates;
    const state = randomUUID();
    await repo.save(state, value(new Date(Date.now() + 600_000)));
    const results = await Promise.all([repo.consume(state), repo.consume(state), repo.consume(state)]);
    expect(results.filter((r) => r.ok)).toHaveLength(1);
  });

  it('does not keep the state itself in the table', async () => {
    const state = 'visible-' + randomUUID();
    await stack.services.storage.authStates.save(state, value(new Date(Date.now() + 600_000)));
    const table = stack.services.storage.clients.table('oauthstates');
    for await (const e of table.listEntities()) expect(JSON.stringify(e)).not.toContain(state);
  });

  it('deletes the rows of expired sign-ins, and only those', async () => {
    const repo = stack.services.storage.authStates;
    const now = Date.now();
    const gone = [randomUUID(), randomUUID()];
    const kept = randomUUID();
    for (const s of gone) await repo.save(s, value(new Date(now - 1000)));
    await repo.save(kept, value(new Date(now + 600_000)));
    expect(await repo.deleteExpired(new Date(now))).toBeGreaterThanOrEqual(2);
    for (const s of gone) await expect(repo.consume(s)).resolves.toEqual({ ok: false, reason: 'unknown' });
    await expect(repo.consume(kept)).resolves.toMatchObject({ ok: true });
  });
});
