/**
 * Notifications (issue 16, item 4) against real parts: the local host's admin API, Azurite, a
 * loopback HTTPS webhook receiver (webhook and Teams Workflows channels), a real SMTP server
 * that takes XOAUTH2 with tokens the test OIDC server issued to an authorized connection (the
 * e-mail channel), and the connection's refreshes answered with AADSTS codes by that server.
 *
 * What is asserted: the channels' API (ETags, validation, the webhook URL never shown again, SSRF
 * targets refused), each event sent once per change of state to each channel, the Teams card
 * valid against the Adaptive Card schema of the version it declares, retries on 5xx and 429, no
 * retry on another 4xx, the failures of one destination grouped, and every outcome recorded.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { simpleParser } from 'mailparser';
import { registry } from '../../host/registry';
import { startTriggers } from '../../host/local/triggers';
import { CONNECTORS, deliverJob, parseDestinations } from '../../shared/delivery';
import { ingestScan } from '../../shared/ingest';
import { silentLogger, type Logger } from '../../shared/log';
import { eventId, events, processNotification, type NotificationEvent, type WebhookBody } from '../../shared/notifications';
import {
  CONNECTION_TYPES,
  completeAuthorization,
  newKeyRingSecret,
  refreshConnection,
  startAuthorization,
  type ConnectionType,
} from '../../shared/oauth';
import { NOTIFICATION_QUEUE, NOTIFICATIONS_TABLE, type NotificationRecord } from '../../shared/storage';
import { adaptiveCardProblems } from '../helpers/adaptiveCard';
import { httpRequest } from '../helpers/http';
import { startJsonReceiver, type JsonReceiver } from '../helpers/jsonReceiver';
import { multipart, pdfBytes } from '../helpers/multipart';
import { DEFAULT_USER, startOidcServer, type OidcServer } from '../helpers/oidcServer';
import { startReceiver, type Receiver } from '../helpers/receiver';
import { startScanHost, type ScanHost } from '../helpers/scanStack';
import { startSmtp, type TestSmtpServer } from '../helpers/smtpServer';

const CLIENT_ID = '3f1c2b7a-9d4e-4c8a-a1b2-0c9d8e7f6a5b';
const CLIENT_SECRET = 'the-client-secret-value';
const ADMIN_KEY = 'admin-key-for-notification-tests-0123456789';
const BASE = 'https://scanrelay.test';
const SIG = 'sig=SeCrEtSiGnAtUrE0123456789';

let host: ScanHost;
let idp: OidcServer;
let hooks: JsonReceiver;
let archive: Receiver;
let smtp: TestSmtpServer;
let alertsConnection: string;
const warnings: string[] = [];
const log: Logger = { info() {}, warn: (m) => void warnings.push(m), error: (m) => void warnings.push(m) };

beforeAll(async () => {
  idp = await startOidcServer({
    clients: [
      {
        clientId: CLIENT_ID,
        clientSecret: CLIENT_SECRET,
        redirectUris: CONNECTION_TYPES.map((t) => `${BASE}/api/oauth2/client/${t}/authorize-callback`),
      },
    ],
  });
  [hooks, archive] = await Promise.all([startJsonReceiver(), startReceiver()]);
  smtp = await startSmtp({
    authOptional: false,
    authMethods: ['XOAUTH2'],
    onAuth(auth, session, callback) {
      if (!session.secure) return callback(new Error('5.7.0 STARTTLS first'));
      try {
        const { payload } = idp.verifyJwt(auth.accessToken ?? '');
        if (!String(payload.scp).split(' ').includes('SMTP.Send')) return callback(new Error('5.7.3 token lacks SMTP.Send'));
        callback(null, { user: auth.username });
      } catch (err) {
        callback(Object.assign(new Error(`5.7.3 ${(err as Error).message}`), { responseCode: 535 }));
      }
    },
  });
  const destinationsFile = join(mkdtempSync(join(tmpdir(), 'scanrelay-notify-')), 'destinations.json');
  writeFileSync(
    destinationsFile,
    JSON.stringify({
      version: 1,
      destinations: [
        { id: 'archive', type: 'httpForward', when: {}, options: { url: archive.url, allowHttp: true, allowPrivateNetworks: true } },
      ],
    }),
  );
  host = await startScanHost({
    DESTINATIONS_FILE: destinationsFile,
    OAUTH_AUTHORITY_HOST: idp.baseUrl,
    OAUTH_CLIENT_ID: CLIENT_ID,
    PUBLIC_BASE_URL: BASE,
  });
  writeFileSync(
    host.secretsFile,
    JSON.stringify({ 'admin-key': ADMIN_KEY, 'oauth-client-secret': CLIENT_SECRET, 'token-encryption-keys': newKeyRingSecret('k1') }),
  );
  alertsConnection = await authorizedConnection('smtpMicrosoft', 'Alerts mailbox');
});
afterAll(async () => {
  await host?.stop();
  await Promise.all([hooks?.stop(), archive?.stop(), smtp?.stop(), idp?.stop()]);
});
beforeEach(() => {
  warnings.length = 0;
  idp.failTokenRequestsWith(null);
});

// ---------------------------------------------------------------------------------------------
// Helpers.

const api = (path: string, method = 'GET', body?: unknown, headers: Record<string, string> = {}) =>
  httpRequest(`${host.server.url}/api/${path}`, {
    method,
    headers: { 'x-functions-key': ADMIN_KEY, ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
    ...(body === undefined ? {} : { body: Buffer.from(JSON.stringify(body)) }),
  });

async function authorizedConnection(type: ConnectionType, displayName: string): Promise<string> {
  const id = `c-${randomUUID().slice(0, 8)}`;
  const deps = host.services.oauthDeps(silentLogger);
  await host.services.storage.connections.create({ id, type, tenant: 'organizations', displayName });
  const url = await startAuthorization(deps, { kind: 'key' }, id, DEFAULT_USER.upn);
  const res = await fetch(url, { redirect: 'manual' });
  const query = Object.fromEntries(new URL(res.headers.get('location')!).searchParams);
  expect(await completeAuthorization(deps, type, query)).toMatchObject({ ok: true });
  return id;
}

/** Runs the notification queue's worker on every visible message, as the `notify` trigger does, until the queue is empty. */
async function drain(): Promise<NotificationRecord[]> {
  const queue = host.services.storage.clients.queue(NOTIFICATION_QUEUE);
  await queue.createIfNotExists();
  const out: NotificationRecord[] = [];
  for (;;) {
    const { receivedMessageItems: items } = await queue.receiveMessages({ numberOfMessages: 16 });
    if (items.length === 0) return out;
    for (const m of items) {
      const record = await processNotification(
        { ...host.services.notificationWorkerDeps(log), retryDelaysMs: [10, 20] },
        Buffer.from(m.messageText, 'base64').toString('utf8'),
      );
      if (record) out.push(record);
      await queue.deleteMessage(m.messageId, m.popReceipt);
    }
  }
}

/** Messages waiting in the notification queue, visible or not. */
async function queued(): Promise<number> {
  const props = await host.services.storage.clients.queue(NOTIFICATION_QUEUE).getProperties();
  return props.approximateMessagesCount ?? 0;
}

async function clearQueue() {
  const queue = host.services.storage.clients.queue(NOTIFICATION_QUEUE);
  await queue.createIfNotExists();
  await queue.clearMessages();
}

const record = async (id: string) => (await host.services.storage.notifications.get(id))!;

/** The webhook bodies accepted at `path`, from index `from` on. */
const bodiesAt = (path: string, from = 0) =>
  hooks.requests
    .slice(from)
    .filter((r) => r.path === path && r.status < 300)
    .map((r) => r.body as WebhookBody & { type: string });

/** The Adaptive Card inside a Teams Workflows message, after checking the message's shape. */
function cardOf(message: unknown): Record<string, unknown> {
  expect(message).toMatchObject({
    type: 'message',
    attachments: [{ contentType: 'application/vnd.microsoft.card.adaptive', contentUrl: null, content: expect.any(Object) }],
  });
  return (message as { attachments: Array<{ content: Record<string, unknown> }> }).attachments[0]!.content;
}

async function storeJob(fields: Record<string, string> = {}): Promise<string> {
  const mp = multipart([
    { name: 'scanJobID', value: randomUUID() },
    ...Object.entries(fields).map(([name, value]) => ({ name, value })),
    { name: 'file1', filename: 'a.pdf', data: pdfBytes(2000) },
  ]);
  const res = await ingestScan({ contentType: mp.contentType, body: Readable.from([mp.body]) }, host.services.ingestDeps(silentLogger));
  return res.jobId;
}

/** A job whose only destination refuses it for good (400). */
async function failedJob(): Promise<string> {
  const jobId = await storeJob();
  archive.failNext(400);
  await expect(deliverJob({ jobId }, 1, host.services.delivererDeps(log))).resolves.toBe('failed');
  return jobId;
}

async function createChannel(body: Record<string, unknown>) {
  const res = await api('notifications/channels', 'POST', body);
  expect(res.status).toBe(201);
  return res;
}

async function deleteAllChannels() {
  const list = await api('notifications/channels');
  for (const c of list.json.channels as Array<{ id: string }>) {
    expect((await api(`notifications/channels/${c.id}`, 'DELETE', undefined, { 'if-match': '*' })).status).toBe(204);
  }
}

// ---------------------------------------------------------------------------------------------

describe('channels through the admin API', () => {
  afterAll(deleteAllChannels);

  it('creates a webhook channel: 201 with its ETag, the URL stored encrypted and shown as its host only, everywhere', async () => {
    const url = `${hooks.url}/hook-api?${SIG}`;
    const created = await createChannel({ id: 'ops', kind: 'webhook', name: 'Ops', url, allowPrivateNetworks: true });
    expect(created.headers.etag).toBeTruthy();
    expect(created.json).toMatchObject({ id: 'ops', urlHost: new URL(hooks.url).host, options: { kind: 'webhook', name: 'Ops' } });
    expect(created.json.options.url).toBeUndefined();

    const got = await api('notifications/channels/ops');
    expect(got.status).toBe(200);
    expect(got.headers.etag).toBe(created.headers.etag);
    const list = await api('notifications/channels');
    const audit = await api('audit');
    const table = host.services.storage.clients.table('notificationchannels');
    const rows: string[] = [];
    for await (const e of table.listEntities()) rows.push(JSON.stringify(e));
    for (const text of [created.text, got.text, list.text, audit.text, rows.join('\n')]) {
      expect(text).not.toContain('SeCrEtSiGnAtUrE');
      expect(text).not.toContain('/hook-api');
    }
    expect(audit.text).toContain('notification.channel.create');
  });

  it('PUT without url keeps the URL; a stale ETag is 412 and changes nothing; If-Match is required', async () => {
    const current = await api('notifications/channels/ops');
    const renamed = await api(
      'notifications/channels/ops',
      'PUT',
      { kind: 'webhook', name: 'Operations', allowPrivateNetworks: true },
      { 'if-match': current.headers.etag as string },
    );
    expect(renamed.status).toBe(200);
    expect(renamed.json.options.name).toBe('Operations');

    const stale = await api(
      'notifications/channels/ops',
      'PUT',
      { kind: 'webhook', name: 'x' },
      { 'if-match': current.headers.etag as string },
    );
    expect(stale.status).toBe(412);
    expect(stale.json.error).toBe('channel_changed');
    const none = await api('notifications/channels/ops', 'PUT', { kind: 'webhook', name: 'x' });
    expect(none.json.error).toBe('if_match_required');
    expect((await api('notifications/channels/ops')).json.options.name).toBe('Operations');

    // The kept URL, with its signature, is the one posted to.
    const before = hooks.requests.length;
    const test = await api('notifications/channels/ops/test', 'POST');
    expect(test.json).toMatchObject({ channel: 'ops', status: 'sent' });
    const sent = hooks.requests.slice(before);
    expect(sent).toHaveLength(1);
    expect(sent[0]!.path).toBe(`/hook-api?${SIG}`);
  });

  it.each([
    ['an ftp URL', { kind: 'webhook', url: 'ftp://example.com/x' }, 'url'],
    ['a URL with a password', { kind: 'webhook', url: 'https://user:pw@example.com/x' }, 'url'],
    ['no URL', { kind: 'teams' }, 'url'],
    ['an unknown event', { kind: 'webhook', url: 'https://example.com/x', events: ['job.exploded'] }, 'events.0'],
    ['the user-only event', { kind: 'webhook', url: 'https://example.com/x', events: ['scan.undeliverable'] }, 'events.0'],
    ['an unknown kind', { kind: 'pager', url: 'https://example.com/x' }, 'kind'],
    ['an e-mail without connection', { kind: 'email', to: ['a@contoso.com'] }, 'connectionId'],
    ['two addresses in one item', { kind: 'email', connectionId: 'c', to: ['a@contoso.com, b@contoso.com'] }, 'to.0'],
    ['a header in an address', { kind: 'email', connectionId: 'c', to: ['a@contoso.com\r\nBcc: x@evil.example'] }, 'to.0'],
  ])('refuses %s with a 400 naming the option, and saves nothing', async (_what, options, path) => {
    const res = await api('notifications/channels', 'POST', { id: 'bad', name: 'Bad', ...options });
    expect(res.status).toBe(400);
    expect(res.json.error).toBe('validation_failed');
    expect(res.json.fields).toEqual(expect.arrayContaining([expect.objectContaining({ path })]));
    expect((await api('notifications/channels/bad')).status).toBe(404);
  });

  it('refuses a bad id, a taken id, and callers without the admin key', async () => {
    expect((await api('notifications/channels', 'POST', { id: 'Ops/..', kind: 'webhook', name: 'x', url: 'https://e.x/' })).status).toBe(
      400,
    );
    const taken = await api('notifications/channels', 'POST', { id: 'ops', kind: 'webhook', name: 'x', url: 'https://example.com/' });
    expect(taken.status).toBe(409);
    expect(taken.json.error).toBe('channel_exists');
    const anonymous = await httpRequest(`${host.server.url}/api/notifications/channels`);
    expect(anonymous.status).toBe(401);
    const wrong = await httpRequest(`${host.server.url}/api/notifications/channels/ops/test`, {
      method: 'POST',
      headers: { 'x-functions-key': 'wrong' },
    });
    expect(wrong.status).toBe(401);
  });

  it.each([
    ['loopback without allowPrivateNetworks', () => `${hooks.url}/ssrf`, {}, /loopback, private or link-local/],
    ['the cloud metadata address', () => 'https://169.254.169.254/latest/meta-data', {}, /169\.254\.169\.254/],
    ['http:// without allowPrivateNetworks', () => `http://example.com/x`, {}, /http:\/\/ URL is only allowed/],
  ])('a test to %s fails, naming why, and nothing is sent', async (_what, url, extra, reason) => {
    const id = `ssrf-${randomUUID().slice(0, 6)}`;
    await createChannel({ id, kind: 'webhook', name: 'SSRF', url: url(), ...extra });
    const before = hooks.requests.length;
    const res = await api(`notifications/channels/${id}/test`, 'POST');
    expect(res.status).toBe(200);
    expect(res.json.status).toBe('failed');
    expect(res.json.error).toMatch(reason);
    expect(hooks.requests.length).toBe(before);
  });

  it('a test to a Teams channel posts a Workflows message whose card is valid Adaptive Card 1.4', async () => {
    await createChannel({ id: 'teams-test', kind: 'teams', name: 'IT', url: `${hooks.url}/teams-test`, allowPrivateNetworks: true });
    const res = await api('notifications/channels/teams-test/test', 'POST');
    expect(res.json.status).toBe('sent');
    const [message] = bodiesAt('/teams-test');
    const card = cardOf(message);
    expect(card.version).toBe('1.4');
    expect(adaptiveCardProblems(card)).toEqual([]);
    expect(JSON.stringify(card)).toContain('ScanRelay test notification');
    const idempotencyKey = hooks.requests.find((r) => r.path === '/teams-test')!.headers['idempotency-key'];
    expect(idempotencyKey).toBe(res.json.eventId);
  });
});

describe('events, each once per change of state, on every channel', () => {
  beforeAll(async () => {
    await clearQueue();
    await createChannel({ id: 'hook', kind: 'webhook', name: 'Hook', url: `${hooks.url}/hook`, allowPrivateNetworks: true });
    await createChannel({ id: 'teams', kind: 'teams', name: 'Teams', url: `${hooks.url}/teams`, allowPrivateNetworks: true });
    await createChannel({
      id: 'mail',
      kind: 'email',
      name: 'Admins',
      connectionId: alertsConnection,
      to: ['it-admins@contoso.com'],
      smtpHost: 'localhost',
      smtpPort: smtp.port,
      events: ['delivery.failed', 'connection.reauthorization_required'],
    });
  });
  afterAll(deleteAllChannels);
  afterEach(clearQueue);

  it('a delivery failed for good: one JSON body, one valid card and one e-mail (XOAUTH2), each linking to the job', async () => {
    const from = hooks.requests.length;
    const mails = smtp.messages.length;
    const jobId = await failedJob();
    const [r] = await drain();
    expect(r).toMatchObject({ type: 'delivery.failed', status: 'sent' });
    expect(Object.keys(r!.channels).sort()).toEqual(['hook', 'mail', 'teams']);

    const [body, ...more] = bodiesAt('/hook', from);
    expect(more).toEqual([]);
    expect(body).toMatchObject({
      schema: 'scanrelay.notification/1',
      type: 'delivery.failed',
      severity: 'error',
      subject: { kind: 'destination', id: 'archive' },
      link: { url: `${BASE}/api/console/jobs/${jobId}` },
    });
    expect(body!.text).toMatch(/answered 400/);
    expect(body!.facts).toEqual(expect.arrayContaining([{ name: 'Job', value: jobId }]));

    const [message] = bodiesAt('/teams', from);
    const card = cardOf(message);
    expect(adaptiveCardProblems(card)).toEqual([]);
    expect(card.actions).toEqual([{ type: 'Action.OpenUrl', title: 'Open the job', url: `${BASE}/api/console/jobs/${jobId}` }]);

    expect(smtp.messages).toHaveLength(mails + 1);
    const mail = smtp.messages[mails]!;
    expect(mail.rcptTo).toEqual(['it-admins@contoso.com']);
    expect(mail.mailFrom).toBe(DEFAULT_USER.upn);
    expect(mail.secure).toBe(true);
    const parsed = await simpleParser(mail.raw);
    expect(parsed.subject).toBe('[ScanRelay] A scan could not be delivered to archive');
    expect(parsed.text).toContain(`${BASE}/api/console/jobs/${jobId}`);
  });

  it("the same destination's next failures within the hour are recorded, counted and not sent; the next after it says how many", async () => {
    const from = hooks.requests.length;
    const mails = smtp.messages.length;
    await failedJob();
    await failedJob();
    const records = await drain();
    expect(records.map((x) => x.status)).toEqual(['suppressed', 'suppressed']);
    expect(bodiesAt('/hook', from)).toEqual([]);
    expect(smtp.messages).toHaveLength(mails);

    // An hour later (the group's last notification moved back), the next failure is sent with the count.
    const group = eventId('group:delivery.failed:archive');
    const g = (await host.services.storage.notifications.group(group))!;
    await host.services.storage.notifications.putGroup(
      group,
      { lastSentAt: new Date(Date.now() - 61 * 60_000), suppressed: g.suppressed },
      g.etag,
    );
    await failedJob();
    await drain();
    const [body] = bodiesAt('/hook', from);
    expect(body!.alsoSince).toEqual({ count: 2, since: expect.any(String) });
    expect(JSON.stringify(cardOf(bodiesAt('/teams', from)[0]))).toContain('2 more event(s) like this one');

    const listed = await api('notifications?days=1');
    const statuses = (listed.json.events as Array<{ type: string; status: string }>).filter((e) => e.type === 'delivery.failed');
    expect(statuses.map((e) => e.status).sort()).toEqual(['sent', 'sent', 'suppressed', 'suppressed']);
  });

  it('a 503 is retried at once and a 429 after its Retry-After: sent once, attempts recorded', async () => {
    const from = hooks.requests.length;
    hooks.failNext(503);
    const e = events.jobPoisoned(randomUUID(), new Date());
    await host.services.notifier(log).notify(e);
    const [r] = await drain();
    expect(r!.channels.hook).toMatchObject({ status: 'sent', attempts: 2 });
    expect(r!.channels.teams).toMatchObject({ status: 'sent', attempts: 1 });
    expect(hooks.requests.slice(from).map((x) => x.status)).toEqual([503, 200, 200]);
    expect(bodiesAt('/hook', from)).toHaveLength(1);

    const from2 = hooks.requests.length;
    hooks.failNext({ status: 429, retryAfter: 0 });
    await host.services.notifier(log).notify({ ...events.jobPoisoned(randomUUID(), new Date()), group: undefined });
    const [r2] = await drain();
    expect(r2!.channels.hook).toMatchObject({ status: 'sent', attempts: 2 });
    expect(
      hooks.requests
        .slice(from2)
        .filter((x) => x.path === '/hook')
        .map((x) => x.status),
    ).toEqual([429, 200]);
  });

  it('a channel still failing goes back to the queue, is retried later, and the channels that got it are not sent it again', async () => {
    const from = hooks.requests.length;
    hooks.failNext(503, 503, 503);
    const e = { ...events.jobPoisoned(randomUUID(), new Date()), group: undefined };
    await host.services.notifier(log).notify(e);
    const [first] = await drain();
    expect(first).toMatchObject({ status: 'pending', channels: { hook: { status: 'retrying', attempts: 3 }, teams: { status: 'sent' } } });
    expect(first!.channels.hook!.error).toMatch(/answered 503/);
    // Queued again for later (invisible for now: drain found nothing more).
    expect(await queued()).toBe(1);

    // The later try (the message as the queue hands it back).
    const later = await processNotification({ ...host.services.notificationWorkerDeps(log), retryDelaysMs: [] }, { event: e, attempt: 2 });
    expect(later).toMatchObject({
      status: 'sent',
      channels: { hook: { status: 'sent', attempts: 4 }, teams: { status: 'sent', attempts: 1 } },
    });
    expect(bodiesAt('/hook', from)).toHaveLength(1);
    expect(bodiesAt('/teams', from)).toHaveLength(1);
  });

  it('another 4xx is not retried: failed with the reason, logged, the other channels sent', async () => {
    const from = hooks.requests.length;
    hooks.failNext(404);
    const e = { ...events.jobPoisoned(randomUUID(), new Date()), group: undefined };
    await host.services.notifier(log).notify(e);
    const [r] = await drain();
    expect(r).toMatchObject({ status: 'partial', channels: { hook: { status: 'failed', attempts: 1 }, teams: { status: 'sent' } } });
    expect(r!.channels.hook!.error).toMatch(/answered 404/);
    expect(hooks.requests.slice(from).filter((x) => x.path === '/hook')).toHaveLength(1);
    expect(warnings).toContain('notify: a channel failed for good');
    expect(await queued()).toBe(0);
  });

  it('the last queued try gives up: failed, not queued again', async () => {
    hooks.failNext(503, 503, 503);
    const e = { ...events.jobPoisoned(randomUUID(), new Date()), group: undefined };
    const r = await processNotification(
      { ...host.services.notificationWorkerDeps(log), retryDelaysMs: [10, 10] },
      { event: e, attempt: 5 },
    );
    expect(r).toMatchObject({ status: 'partial', channels: { hook: { status: 'failed', attempts: 3 }, teams: { status: 'sent' } } });
    expect(await queued()).toBe(0);
  });

  it('an event raised twice, and one message handled by two workers at once, is sent once per channel', async () => {
    const from = hooks.requests.length;
    const e: NotificationEvent = { ...events.jobPoisoned(randomUUID(), new Date()), group: undefined };
    const notifier = host.services.notifier(log);
    await Promise.all([notifier.notify(e), notifier.notify(e)]);
    const deps = { ...host.services.notificationWorkerDeps(log), retryDelaysMs: [] };
    await Promise.all([processNotification(deps, { event: e, attempt: 1 }), processNotification(deps, { event: e, attempt: 1 })]);
    await drain();
    // Raised once more after it was recorded: not even queued. (The worker that found the row
    // claimed queued a look for later: invisible, and a no-op then.)
    const waiting = await queued();
    await notifier.notify(e);
    expect(await queued()).toBe(waiting);
    expect(await processNotification(deps, { event: e, attempt: 1 })).toMatchObject({ status: 'sent' });
    expect(bodiesAt('/hook', from)).toHaveLength(1);
    expect(bodiesAt('/teams', from)).toHaveLength(1);
    expect((await record(e.id)).status).toBe('sent');
  });

  it('a disabled channel, and one not taking the event type, receive nothing', async () => {
    const hook = await api('notifications/channels/hook');
    await api('notifications/channels/hook', 'PUT', { ...hook.json.options, enabled: false }, { 'if-match': hook.headers.etag as string });
    const from = hooks.requests.length;
    const mails = smtp.messages.length;
    const e = { ...events.jobPoisoned(randomUUID(), new Date()), group: undefined };
    await host.services.notifier(log).notify(e);
    const [r] = await drain();
    expect(Object.keys(r!.channels)).toEqual(['teams']); // mail takes delivery.failed and reauthorization only
    expect(bodiesAt('/hook', from)).toEqual([]);
    expect(smtp.messages).toHaveLength(mails);
    const again = await api('notifications/channels/hook');
    await api('notifications/channels/hook', 'PUT', { ...again.json.options, enabled: true }, { 'if-match': again.headers.etag as string });
  });

  describe('the scanning user, per destination (notifyUser)', () => {
    beforeAll(() =>
      createChannel({
        id: 'user-mail',
        kind: 'email',
        name: 'To the scanning users',
        connectionId: alertsConnection,
        to: ['scan-notices@contoso.com'],
        smtpHost: 'localhost',
        smtpPort: smtp.port,
        events: [],
      }),
    );
    const destination = (notifyUser: string) => ({
      ...host.services.delivererDeps(log),
      destinations: () => ({
        destinations: parseDestinations(
          {
            version: 1,
            destinations: [
              {
                id: 'archive',
                type: 'httpForward',
                when: {},
                options: { url: archive.url, allowHttp: true, allowPrivateNetworks: true },
                notifyUser,
              },
            ],
          },
          CONNECTORS,
        ),
        file: 'test',
      }),
    });
    async function failFor(fields: Record<string, string>, notifyUser = 'user-mail') {
      const jobId = await storeJob(fields);
      archive.failNext(400);
      await expect(deliverJob({ jobId }, 1, destination(notifyUser))).resolves.toBe('failed');
      return jobId;
    }

    it('gets an e-mail saying which scan did not arrive, without the internal reason; the administrators are told as well', async () => {
      const mails = smtp.messages.length;
      const jobId = await failFor({ userEmail: 'jdoe@contoso.com', workflowName: 'Scan to archive' });
      await drain();
      const toUser = smtp.messages.slice(mails).filter((m) => m.rcptTo.includes('jdoe@contoso.com'));
      expect(toUser).toHaveLength(1);
      expect(toUser[0]!.rcptTo).toEqual(['jdoe@contoso.com']);
      const parsed = await simpleParser(toUser[0]!.raw);
      expect(parsed.subject).toBe('[ScanRelay warning] Your scan (Scan to archive) could not be delivered');
      expect(parsed.text).toContain('did not reach archive');
      expect(parsed.text).toContain('File: a.pdf');
      expect(parsed.text).toContain(jobId);
      expect(parsed.text).not.toMatch(/answered 400|127\.0\.0\.1/);
      // The channel's own recipients are not written to for the user's notice.
      expect(smtp.messages.slice(mails).some((m) => m.rcptTo.includes('scan-notices@contoso.com'))).toBe(false);
    });

    it('nothing for a job without an address, or one that is not an address; a notifyUser that is not an e-mail channel is logged', async () => {
      const mails = smtp.messages.length;
      await failFor({});
      await failFor({ userEmail: 'jdoe@contoso.com\r\nBcc: x@evil.example' });
      await failFor({ userEmail: 'jdoe@contoso.com' }, 'hook');
      await drain();
      expect(smtp.messages.slice(mails).filter((m) => !m.rcptTo.includes('it-admins@contoso.com'))).toEqual([]);
      expect(warnings).toContain("notify: a destination's notifyUser does not name an enabled e-mail channel, or the address is not one");
    });
  });

  describe('connections', () => {
    const deps = () => host.services.oauthDeps(log);
    const connection = async (id: string) => (await host.services.storage.connections.get(id))!;

    it('must be authorized again (AADSTS700082): once, however often it is refreshed, with the link that fixes it; recovered once authorized again', async () => {
      const id = await authorizedConnection('smtpMicrosoft', 'Scan to e-mail');
      const from = hooks.requests.length;
      const mails = smtp.messages.length;
      idp.failTokenRequestsWith(700082, { grantTypes: ['refresh_token'] });
      expect(await refreshConnection(deps(), await connection(id), new Date())).toBe('reauthorization_required');
      expect(await refreshConnection(deps(), await connection(id), new Date(), { retryReauthorization: true })).toBe(
        'reauthorization_required',
      );
      idp.failTokenRequestsWith(null); // the e-mail channel's own connection refreshes freely
      await drain();
      const [body, ...more] = bodiesAt('/hook', from);
      expect(more).toEqual([]);
      expect(body).toMatchObject({
        type: 'connection.reauthorization_required',
        subject: { kind: 'connection', id, name: 'Scan to e-mail' },
        link: { title: 'Authorize it again', url: `${BASE}/api/console/connections/${id}` },
      });
      expect(body!.facts).toEqual(expect.arrayContaining([{ name: 'Code', value: 'refresh_token_expired' }]));
      expect(body!.text).toMatch(/AADSTS700082/);
      expect(JSON.stringify(body)).not.toMatch(/eyJ[A-Za-z0-9_-]{10,}/);
      for (const rt of idp.issuedRefreshTokens) expect(JSON.stringify(body)).not.toContain(rt);
      expect(adaptiveCardProblems(cardOf(bodiesAt('/teams', from)[0]))).toEqual([]);
      // The e-mail channel takes it too, through its own (healthy) connection.
      expect(smtp.messages).toHaveLength(mails + 1);
      expect((await simpleParser(smtp.messages[mails]!.raw)).subject).toBe(
        '[ScanRelay] Connection Scan to e-mail must be authorized again',
      );

      const url = await startAuthorization(deps(), { kind: 'key' }, id, DEFAULT_USER.upn);
      const res = await fetch(url, { redirect: 'manual' });
      const query = Object.fromEntries(new URL(res.headers.get('location')!).searchParams);
      expect(await completeAuthorization(deps(), 'smtpMicrosoft', query)).toMatchObject({ ok: true });
      await drain();
      expect(bodiesAt('/hook', from).map((b) => b.type)).toEqual(['connection.reauthorization_required', 'connection.recovered']);
    });

    it('refused for the app registration (AADSTS7000222): connection.refused, once', async () => {
      const id = await authorizedConnection('exchangeMicrosoft', 'Graph mail');
      const from = hooks.requests.length;
      idp.failTokenRequestsWith(7000222, { grantTypes: ['refresh_token'] });
      await refreshConnection(deps(), await connection(id), new Date());
      await refreshConnection(deps(), await connection(id), new Date(), { retryReauthorization: true });
      await drain();
      expect(bodiesAt('/hook', from).map((b) => [b.type, b.facts.find((f) => f.name === 'Code')?.value])).toEqual([
        ['connection.refused', 'client_secret_expired'],
      ]);
    });

    it('refreshes failing three times in a row: one warning; a good refresh after that: recovered', async () => {
      const failing = await authorizedConnection('oneDrive', 'Drive');
      const from = hooks.requests.length;
      const c = await connection(failing);
      await host.services.storage.connections.update(c, { consecutiveFailures: 2 });
      idp.failNextTokenRequests(1, 503);
      expect(await refreshConnection(deps(), await connection(failing), new Date())).toBe('failed');
      await drain();
      const [warning] = bodiesAt('/hook', from);
      expect(warning).toMatchObject({ type: 'connection.refresh_failing', severity: 'warning' });
      expect(warning!.facts).toEqual(expect.arrayContaining([{ name: 'Failures in a row', value: '3' }]));

      // Another connection (MSAL's throttling keeps the first one's next request for a while) with three failures behind it.
      const recovering = await authorizedConnection('sharePoint', 'Site');
      const r = await connection(recovering);
      await host.services.storage.connections.update(r, { consecutiveFailures: 3 });
      expect(await refreshConnection(deps(), await connection(recovering), new Date())).toBe('refreshed');
      await drain();
      expect(bodiesAt('/hook', from).map((b) => [b.type, b.subject.id])).toEqual([
        ['connection.refresh_failing', failing],
        ['connection.recovered', recovering],
      ]);
    });
  });

  it('the local host runs the notify queue trigger: a raised event reaches the channel with no one draining the queue', async () => {
    const from = hooks.requests.length;
    const triggers = startTriggers(
      registry.filter((f) => f.name === 'notify'),
      (name) => host.services.storage.clients.queue(name),
      { maxDequeueCount: 5, visibilityTimeoutSeconds: 0, batchSize: 4, pollIntervalMs: 50 },
      () => undefined,
    );
    try {
      const e = { ...events.jobPoisoned(randomUUID(), new Date()), group: undefined };
      const target = hooks.accepted().length + 2; // hook and teams
      await host.services.notifier(silentLogger).notify(e);
      await hooks.waitFor(target);
      while ((await record(e.id))?.status !== 'sent') await new Promise((r) => setTimeout(r, 20));
    } finally {
      await triggers.stop();
    }
    expect(bodiesAt('/hook', from).map((b) => b.type)).toEqual(['job.poisoned']);
    // The record is in its table.
    const table = host.services.storage.clients.table(NOTIFICATIONS_TABLE);
    let rows = 0;
    for await (const _ of table.listEntities({ queryOptions: { filter: "PartitionKey eq 'event'" } })) rows++;
    expect(rows).toBeGreaterThan(5);
  });
});
