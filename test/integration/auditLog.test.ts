/** The audit log on Azurite: entries kept in order, newest first, across days; found by text. */
import { audit, searchAudit } from '../../shared/audit';
import { startStack, type TestStack } from '../helpers/env';

let stack: TestStack;
beforeAll(async () => {
  stack = await startStack();
});
afterAll(async () => {
  await stack?.stop();
});

it('records who did what, and lists it newest first across days', async () => {
  const { auditLog } = stack.services.storage;
  const at = (iso: string) => ({ auditLog, now: () => new Date(iso) });
  const admin = { kind: 'user' as const, oid: 'o1', upn: 'admin@contoso.com' };
  await audit(at('2026-11-30T23:59:00Z'), admin, 'destination.update', 'destination:fax', {
    before: { enabled: true },
    after: { enabled: false },
  });
  await audit(at('2026-12-01T08:00:00Z'), { kind: 'key' }, 'job.redeliver', 'job:j1');
  await audit(at('2026-12-01T09:00:00Z'), admin, 'connection.delete', 'connection:scans');
  const all = await auditLog.list(new Date('2026-11-30T00:00:00Z'), new Date('2026-12-01T23:59:59Z'));
  expect(all.map((e) => [e.action, e.at.toISOString()])).toEqual([
    ['connection.delete', '2026-12-01T09:00:00.000Z'],
    ['job.redeliver', '2026-12-01T08:00:00.000Z'],
    ['destination.update', '2026-11-30T23:59:00.000Z'],
  ]);
  expect(all[2]).toMatchObject({ actor: admin, before: { enabled: true }, after: { enabled: false } });
  expect(searchAudit(all, 'ADMIN KEY').map((e) => e.action)).toEqual(['job.redeliver']);
  expect((await auditLog.list(new Date('2026-12-01T08:30:00Z'), new Date('2026-12-01T23:00:00Z'))).map((e) => e.action)).toEqual([
    'connection.delete',
  ]);
});
