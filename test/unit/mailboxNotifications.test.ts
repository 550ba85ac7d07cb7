/**
 * Graph's webhook calls for mailbox sources: the validation handshake, and notifications acted on
 * only when their clientState hashes to the one stored for their subscription.
 */
import { acceptLifecycleNotifications, acceptNotifications, type NotificationDeps } from '../../shared/mailbox';
import { clientStateHash } from '../../shared/mailbox/subscriptions';
import type { Logger } from '../../shared/log';
import type { MailboxSubscription, MailboxWork } from '../../shared/storage';

const SECRET = 'a-client-state-of-32-random-bytes-base64url';

function deps() {
  const queued: MailboxWork[] = [];
  const warnings: string[] = [];
  const sub = (id: string, sourceId: string): MailboxSubscription => ({
    subscriptionId: id,
    sourceId,
    resource: 'users/scans@contoso.com/mailFolders/inbox-id/messages',
    expiresAt: new Date(Date.now() + 3_600_000),
    clientStateHash: clientStateHash(`${SECRET}-${id}`),
    createdAt: new Date(),
    etag: 'e',
  });
  const reads = { n: 0 };
  const subs = new Map([
    ['sub-1', sub('sub-1', 'scans')],
    ['sub-2', sub('sub-2', 'fax')],
  ]);
  const log: Logger = { info: () => undefined, warn: (m) => void warnings.push(m), error: (m) => void warnings.push(m) };
  const d: NotificationDeps = {
    state: { subscriptions: async () => (reads.n++, [...subs.values()]) },
    queue: { enqueue: async (w) => void queued.push(w) },
    log,
  };
  return { d, queued, warnings, reads, add: (id: string, sourceId: string) => subs.set(id, sub(id, sourceId)) };
}

const item = (subscriptionId: string, clientState: string | undefined, id = 'msg-1') => ({
  subscriptionId,
  clientState,
  changeType: 'created',
  resource: `Users/u/Messages/${id}`,
  resourceData: { '@odata.type': '#Microsoft.Graph.Message', id },
});

describe('acceptNotifications', () => {
  it('answers the validation handshake with the token as text, without reading a body', async () => {
    const { d, queued } = deps();
    const read = jest.fn();
    expect(await acceptNotifications('Validation: <b>token</b> 123', read, d)).toEqual({
      status: 200,
      text: 'Validation: <b>token</b> 123',
    });
    expect(read).not.toHaveBeenCalled();
    expect(queued).toEqual([]);
    expect((await acceptNotifications('', read, d)).status).toBe(400);
    expect((await acceptNotifications('x'.repeat(2049), read, d)).status).toBe(400);
  });

  it('queues the message of each notification whose clientState is right, for its own source', async () => {
    const { d, queued, warnings } = deps();
    const body = { value: [item('sub-1', `${SECRET}-sub-1`, 'm1'), item('sub-2', `${SECRET}-sub-2`, 'm2')] };
    expect(await acceptNotifications(null, async () => body, d)).toEqual({ status: 202 });
    expect(queued).toEqual([
      { kind: 'message', sourceId: 'scans', messageId: 'm1' },
      { kind: 'message', sourceId: 'fax', messageId: 'm2' },
    ]);
    expect(warnings).toEqual([]);
  });

  it.each([
    ['a wrong clientState', item('sub-1', `${SECRET}-sub-2`)],
    ['another subscription’s clientState', item('sub-2', `${SECRET}-sub-1`)],
    ['no clientState', item('sub-1', undefined)],
    ['a clientState one character short', item('sub-1', `${SECRET}-sub-`)],
    ['an unknown subscription', item('sub-9', `${SECRET}-sub-9`)],
    ['no subscription id', { ...item('sub-1', `${SECRET}-sub-1`), subscriptionId: undefined }],
  ])('ignores (and logs) a notification with %s, and answers 202 all the same', async (_what, bad) => {
    const { d, queued, warnings } = deps();
    expect(await acceptNotifications(null, async () => ({ value: [bad, item('sub-1', `${SECRET}-sub-1`, 'good')] }), d)).toEqual({
      status: 202,
    });
    expect(queued).toEqual([{ kind: 'message', sourceId: 'scans', messageId: 'good' }]);
    expect(warnings).toEqual([expect.stringContaining('wrong clientState or an unknown subscription')]);
    expect(warnings.join('')).not.toContain(SECRET);
  });

  it.each([[undefined], [{}], [{ value: 'x' }], [[1, 2]], [{ value: [null, 7, 'x'] }]])(
    'ignores a body that is not a notification: %j',
    async (body) => {
      const { d, queued } = deps();
      expect(await acceptNotifications(null, async () => body, d)).toEqual({ status: 202 });
      expect(queued).toEqual([]);
    },
  );

  it('ignores a verified notification without a usable message id', async () => {
    const { d, queued, warnings } = deps();
    const bad = { ...item('sub-1', `${SECRET}-sub-1`), resourceData: { id: 42 } };
    await acceptNotifications(null, async () => ({ value: [bad] }), d);
    expect(queued).toEqual([]);
    expect(warnings).toEqual([expect.stringContaining('without a message id')]);
  });
});

describe('the subscriptions behind the check', () => {
  it('a request of 500 made-up subscription ids costs one read of the subscriptions, not one per id', async () => {
    const { d, queued, reads } = deps();
    await acceptNotifications(null, async () => ({ value: [item('sub-1', `${SECRET}-sub-1`)] }), d);
    expect(reads.n).toBe(1);
    const forged = Array.from({ length: 500 }, (_, i) => item(`made-up-${i}`, 'guess'));
    await acceptNotifications(null, async () => ({ value: forged }), d);
    expect(reads.n).toBe(2);
    expect(queued).toHaveLength(1);
  });

  it('a subscription created since the last read (by another instance) is found by reading again', async () => {
    const { d, queued, add } = deps();
    await acceptNotifications(null, async () => ({ value: [item('sub-1', `${SECRET}-sub-1`)] }), d);
    add('sub-3', 'late');
    await acceptNotifications(null, async () => ({ value: [item('sub-3', `${SECRET}-sub-3`, 'm3')] }), d);
    expect(queued.map((w) => w.sourceId)).toEqual(['scans', 'late']);
  });
});

describe('acceptLifecycleNotifications', () => {
  it.each(['reauthorizationRequired', 'subscriptionRemoved', 'missed'] as const)('queues %s for its source', async (event) => {
    const { d, queued } = deps();
    const body = { value: [{ subscriptionId: 'sub-2', clientState: `${SECRET}-sub-2`, lifecycleEvent: event }] };
    expect(await acceptLifecycleNotifications(null, async () => body, d)).toEqual({ status: 202 });
    expect(queued).toEqual([{ kind: 'lifecycle', sourceId: 'fax', subscriptionId: 'sub-2', event }]);
  });

  it('ignores a forged one and an unknown event', async () => {
    const { d, queued, warnings } = deps();
    const body = {
      value: [
        { subscriptionId: 'sub-2', clientState: 'guess', lifecycleEvent: 'subscriptionRemoved' },
        { subscriptionId: 'sub-1', clientState: `${SECRET}-sub-1`, lifecycleEvent: 'selfDestruct' },
      ],
    };
    await acceptLifecycleNotifications(null, async () => body, d);
    expect(queued).toEqual([]);
    expect(warnings).toHaveLength(2);
  });
});
