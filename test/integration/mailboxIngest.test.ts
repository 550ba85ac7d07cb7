/**
 * Mailbox ingest through the local host: the Graph test server (test/helpers/graphMailboxes.ts)
 * holds the mailboxes and POSTs change and lifecycle notifications to the host's real HTTP
 * endpoints (the validation handshake included); the host's queue trigger takes each message in
 * as a scan job, the deliverer delivers it to a file-share destination, and the message is moved.
 * App-only tokens come from the test OIDC server through real MSAL (client credentials), and the
 * Graph server accepts only tokens that server signed.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { registry } from '../../host/registry';
import { startTriggers, type TriggerRunner } from '../../host/local/triggers';
import { silentLogger } from '../../shared/log';
import { createSource, keepSubscriptions, mailboxKey, readAllSources, type MailboxDeps } from '../../shared/mailbox';
import { MAILBOX_QUEUE, SCAN_JOBS_TABLE, type MailboxWork, type ScanJob } from '../../shared/storage';
import { startGraphServer, type GraphServer } from '../helpers/graphServer';
import { pdfBytes } from '../helpers/multipart';
import { DEFAULT_USER, startOidcServer, type OidcServer } from '../helpers/oidcServer';
import { startScanHost, type ScanHost } from '../helpers/scanStack';
import { waitFor as waitUntil } from '../helpers/wait';

jest.setTimeout(60_000);

const PRINTER = { address: 'mfp-3@contoso.example', name: 'MFP 3 (2nd floor)' };
const WORKFLOW = 'Mail scans';
const ACTOR = { kind: 'system', name: 'test' } as const;

let idp: OidcServer;
let graph: GraphServer;
let host: ScanHost;
let triggers: TriggerRunner;
let deliveredDir: string;
const triggerLog: string[] = [];

/** Only app-only tokens the identity platform signed reach a mailbox. */
function appToken(t: string): { app: true } | false {
  try {
    idp.verifyJwt(t);
    return { app: true };
  } catch {
    return false;
  }
}

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

beforeAll(async () => {
  idp = await startOidcServer();
  const client = idp.clients[0]!;
  graph = await startGraphServer();
  graph.acceptToken(appToken);
  deliveredDir = mkdtempSync(join(tmpdir(), 'scanrelay-mail-delivered-'));
  const file = join(mkdtempSync(join(tmpdir(), 'scanrelay-mail-')), 'destinations.json');
  writeFileSync(
    file,
    JSON.stringify({
      version: 1,
      destinations: [{ id: 'archive', type: 'fileShare', when: { workflowName: WORKFLOW }, options: { basePath: deliveredDir } }],
    }),
  );
  host = await startScanHost((url) => ({
    DESTINATIONS_FILE: file,
    OAUTH_AUTHORITY_HOST: idp.baseUrl,
    OAUTH_TENANT: DEFAULT_USER.tid,
    OAUTH_CLIENT_ID: client.clientId,
    GRAPH_BASE_URL: graph.baseUrl,
    PUBLIC_BASE_URL: url,
  }));
  writeFileSync(host.secretsFile, JSON.stringify({ 'oauth-client-secret': client.clientSecret }));
  const { clients } = host.services.storage;
  triggers = startTriggers(
    registry.filter((f) => f.name === 'deliver' || f.name === 'mailboxWork'),
    (name) => clients.queue(name),
    { maxDequeueCount: 5, visibilityTimeoutSeconds: 0, batchSize: 4, pollIntervalMs: 50 },
    (line) => triggerLog.push(line),
  );
});
afterAll(async () => {
  await triggers?.stop();
  await host?.stop();
  await graph?.stop();
  await idp?.stop();
});

const deps = (): MailboxDeps => host.services.mailboxDeps(silentLogger);

/** Waits for what the host does asynchronously (queue, notifications), with its last log lines on a timeout. */
const waitFor = <T>(what: string, probe: () => Promise<T | undefined | false> | T | undefined | false) =>
  waitUntil(what, probe, { timeoutMs: 30_000, context: () => triggerLog.slice(-20).join('\n') });

/** Resolves once every queued piece of mailbox work is done (the queue counts invisible messages too). */
async function mailboxWorkDone(): Promise<void> {
  await graph.mail.notificationsSettled();
  const queue = host.services.storage.clients.queue(MAILBOX_QUEUE);
  await waitFor('the mailbox work queue to drain', async () => (await queue.getProperties()).approximateMessagesCount === 0);
}

let n = 0;
/** A new source with its own mailbox, subscribed; returns its id, mailbox and subscription id. */
async function newSource(options: Record<string, unknown> = {}, subscribe = true) {
  const id = `src-${++n}`;
  const mailbox = `scans-${n}@contoso.example`;
  graph.mail.mailbox(mailbox);
  await createSource(host.services.mailboxSourcesDeps(), ACTOR, {
    id,
    mailbox,
    access: 'application',
    workflowName: WORKFLOW,
    allowedSenders: ['contoso.example'],
    ...options,
  });
  if (subscribe) await keepSubscriptions(deps());
  const subscriptionId = graph.mail.subscriptions().find((s) => s.mailbox === mailbox)?.id;
  return { id, mailbox, subscriptionId: subscriptionId! };
}

/** Every job record stored under this message's idempotency key. */
async function jobsOf(mailbox: string, internetMessageId: string): Promise<ScanJob[]> {
  const key = mailboxKey(mailbox, internetMessageId);
  const table = host.services.storage.clients.table(SCAN_JOBS_TABLE);
  await table.createTable();
  const ids: string[] = [];
  for await (const e of table.listEntities<{ scanJobId?: string; status: string }>()) {
    if (e.scanJobId === key && e.status === 'stored') ids.push(e.partitionKey!);
  }
  return (await Promise.all(ids.map((id) => host.services.storage.scanJobs.get(id)))).filter((j): j is ScanJob => !!j);
}

async function storedJob(mailbox: string, internetMessageId: string): Promise<ScanJob> {
  return waitFor('the job', async () => (await jobsOf(mailbox, internetMessageId))[0]);
}

/** Every file under the delivered folder, by SHA-256. */
function deliveredHashes(): Set<string> {
  const out = new Set<string>();
  const walk = (dir: string) => {
    for (const name of readdirSync(dir)) {
      const p = join(dir, name);
      if (statSync(p).isDirectory()) walk(p);
      else out.add(sha256(readFileSync(p)));
    }
  };
  walk(deliveredDir);
  return out;
}

/** The messages of a folder; none while the folder does not exist yet. */
function inFolder(mailbox: string, folder: string) {
  return graph.mail.folders(mailbox).some((f) => f.toLowerCase() === folder.toLowerCase()) ? graph.mail.messages(mailbox, folder) : [];
}

const pdf = (name: string, size = 4096) => ({ kind: 'file' as const, name, contentType: 'application/pdf', content: pdfBytes(size) });

describe('a message from a printer', () => {
  it('with two PDFs: one job with both files byte-identical, delivered, the message moved to ScanRelay/Processed', async () => {
    const src = await newSource();
    expect(src.subscriptionId).toBeDefined();
    // Graph validated the notification URLs against the host before it created the subscription.
    expect(graph.mail.notifications.filter((d) => d.kind === 'validation' && d.ok)).not.toHaveLength(0);
    const a = pdf('page 1.pdf', 300_000);
    const b = pdf('page 2.pdf', 5000);
    const sent = graph.mail.deliver(src.mailbox, { from: PRINTER, subject: 'Scan from MFP 3', attachments: [a, b] });

    const job = await storedJob(src.mailbox, sent.internetMessageId);
    expect(job.files.map((f) => [f.name, f.size, f.sha256, f.contentType])).toEqual([
      ['page 1.pdf', a.content.length, sha256(a.content), 'application/pdf'],
      ['page 2.pdf', b.content.length, sha256(b.content), 'application/pdf'],
    ]);
    expect(job.fields).toMatchObject({
      userEmail: PRINTER.address,
      mailFrom: `${PRINTER.name} <${PRINTER.address}>`,
      mailSubject: 'Scan from MFP 3',
      internetMessageId: sent.internetMessageId,
      mailbox: src.mailbox,
      workflowName: WORKFLOW,
    });
    expect(new Date(job.fields.mailReceivedAt!).getTime()).toBeGreaterThan(0);
    expect(job.fields.username).toBeUndefined(); // the sender is not in the directory

    await waitFor('the job delivered', async () => (await host.services.storage.scanJobs.get(job.jobId))?.deliveryState === 'delivered');
    const delivered = deliveredHashes();
    expect(delivered.has(sha256(a.content)) && delivered.has(sha256(b.content))).toBe(true);

    await waitFor('the message moved', () => inFolder(src.mailbox, 'ScanRelay/Processed').length === 1);
    expect(graph.mail.messages(src.mailbox, 'Inbox')).toEqual([]);
    const [processed] = inFolder(src.mailbox, 'ScanRelay/Processed');
    expect(processed!.internetMessageId).toBe(sent.internetMessageId);
    const [record] = await host.services.storage.mailboxMessages.latest(src.id, 10);
    expect(record).toMatchObject({ outcome: 'stored', jobId: job.jobId, from: PRINTER.address, subject: 'Scan from MFP 3' });

    // The attachments came from $value; their contents never as base64 in JSON.
    const attachmentReads = graph.requests.filter((r) => r.url.includes(`/attachments`) && r.url.includes(encodeURIComponent(src.mailbox)));
    expect(attachmentReads.filter((r) => /\/attachments\/[^/?]+\/\$value/.test(r.url))).toHaveLength(2);
    expect(
      attachmentReads.filter((r) => !/\$value/.test(r.url)).every((r) => /\$select=[^&]*/.test(r.url) && !/contentBytes/.test(r.url)),
    ).toBe(true);
  });

  it('a 24 MiB attachment is streamed through $value into the job, byte-identical', async () => {
    const src = await newSource({ maxMessageBytes: 40 * 1024 * 1024 });
    const big = pdf('big scan.pdf', 24 * 1024 * 1024);
    const sent = graph.mail.deliver(src.mailbox, { from: PRINTER, subject: 'Big', attachments: [big] });
    const job = await storedJob(src.mailbox, sent.internetMessageId);
    expect(job.files[0]).toMatchObject({ size: big.content.length, sha256: sha256(big.content) });
  });

  it('hostile names: an attachment name with CR/LF and ../ is kept as metadata only and delivered inside the share; an attached e-mail with a path for a subject becomes a plain .eml name', async () => {
    const src = await newSource({ includeAttachedMessages: true });
    const hostile = { ...pdf('..\r\n/../../etc/passwd.pdf'), content: pdfBytes(3000) };
    const sent = graph.mail.deliver(src.mailbox, {
      from: PRINTER,
      subject: 'Scan\r\nBcc: evil@example.com',
      attachments: [hostile, { kind: 'item', name: '../../evil\u0000<x>', subject: 'x', from: { address: 'ada@contoso.example' } }],
    });
    const job = await storedJob(src.mailbox, sent.internetMessageId);
    expect(job.files.map((f) => f.name)).toEqual(['..\r\n/../../etc/passwd.pdf', '.._.._evil _x_.eml']);
    expect(job.fields.mailSubject).toBe('Scan  Bcc: evil@example.com');
    await waitFor('the job delivered', async () => (await host.services.storage.scanJobs.get(job.jobId))?.deliveryState === 'delivered');
    expect(deliveredHashes().has(sha256(hostile.content))).toBe(true); // found under deliveredDir, nowhere else
  });

  it('inline images and attached e-mails only with their options; an attached e-mail becomes a .eml file', async () => {
    const attachments = [
      pdf('scan.pdf'),
      {
        kind: 'file' as const,
        name: 'logo.png',
        contentType: 'image/png',
        content: Buffer.from('\x89PNG\r\n\x1a\nlogo'),
        isInline: true,
        contentId: 'logo',
      },
      { kind: 'item' as const, name: 'Original request', subject: 'Please scan this', from: { address: 'ada@contoso.example' } },
    ];
    const plain = await newSource();
    const one = graph.mail.deliver(plain.mailbox, { from: PRINTER, subject: 'Plain', attachments });
    expect((await storedJob(plain.mailbox, one.internetMessageId)).files.map((f) => f.name)).toEqual(['scan.pdf']);

    const all = await newSource({ includeInline: true, includeAttachedMessages: true, attachmentTypes: ['pdf', 'png'] });
    const two = graph.mail.deliver(all.mailbox, { from: PRINTER, subject: 'All', attachments });
    const job = await storedJob(all.mailbox, two.internetMessageId);
    expect(job.files.map((f) => [f.name, f.contentType])).toEqual([
      ['scan.pdf', 'application/pdf'],
      ['logo.png', 'image/png'],
      ['Original request.eml', 'message/rfc822'],
    ]);
    expect(job.files[2]!.size).toBeGreaterThan(0);
  });

  it("the sender's UPN from the directory when the directory knows the address", async () => {
    await host.services.storage.directory.users.create(
      { userName: 'ada.lovelace@contoso.example', active: true, emails: [{ type: 'work', primary: true, value: 'Ada@Contoso.example' }] },
      'scim',
    );
    const src = await newSource();
    const sent = graph.mail.deliver(src.mailbox, {
      from: { address: 'ada@contoso.example' },
      subject: 'Mine',
      attachments: [pdf('a.pdf')],
    });
    const job = await storedJob(src.mailbox, sent.internetMessageId);
    expect(job.fields).toMatchObject({ userEmail: 'ada@contoso.example', username: 'ada.lovelace@contoso.example' });
  });
});

describe('exactly one job per message', () => {
  it('a notification sent three times at once makes one job, and the message is moved once', async () => {
    const src = await newSource();
    const sent = graph.mail.deliver(src.mailbox, { from: PRINTER, subject: 'Thrice', attachments: [pdf('a.pdf', 200_000)] }, 'inbox', {
      notify: false,
    });
    const statuses = await Promise.all([1, 2, 3].map(() => graph.mail.notify(src.subscriptionId, sent.immutableId)));
    expect(statuses).toEqual([202, 202, 202]);
    await waitFor('the message moved', () => inFolder(src.mailbox, 'ScanRelay/Processed').length === 1);
    await mailboxWorkDone();
    expect(await jobsOf(src.mailbox, sent.internetMessageId)).toHaveLength(1);
    expect(graph.mail.messages(src.mailbox, 'Inbox')).toEqual([]);
  });

  it('a notification and the delta backstop together make one job', async () => {
    const src = await newSource();
    graph.mail.pauseNotifications();
    const sent = graph.mail.deliver(src.mailbox, { from: PRINTER, subject: 'Both', attachments: [pdf('a.pdf')] });
    const read = readAllSources(deps());
    graph.mail.resumeNotifications();
    expect((await read).failed).toBe(0);
    await mailboxWorkDone();
    expect(await jobsOf(src.mailbox, sent.internetMessageId)).toHaveLength(1);
    expect(inFolder(src.mailbox, 'ScanRelay/Processed')).toHaveLength(1);
  });

  it('a message whose notification was lost is found by the delta backstop; the next round finds nothing new', async () => {
    const src = await newSource();
    await readAllSources(deps()); // the first (full) round: the folder is empty
    const sent = graph.mail.deliver(src.mailbox, { from: PRINTER, subject: 'Lost', attachments: [pdf('a.pdf')] }, 'inbox', {
      notify: false,
    });
    const round = await readAllSources(deps());
    expect(round.queued).toBeGreaterThanOrEqual(1);
    await mailboxWorkDone();
    expect(await jobsOf(src.mailbox, sent.internetMessageId)).toHaveLength(1);
    const delta = graph.requests.filter((r) => r.url.includes('/messages/delta') && r.url.includes(encodeURIComponent(src.mailbox)));
    expect(delta.length).toBeGreaterThanOrEqual(2);
  });

  it('a failure after the job is stored but before the message moved: the next reading moves it, and makes no second job', async () => {
    const src = await newSource({}, false);
    const sent = graph.mail.deliver(src.mailbox, { from: PRINTER, subject: 'Crash', attachments: [pdf('a.pdf')] }, 'inbox', {
      notify: false,
    });
    const held = graph.holdNext(
      'POST',
      new RegExp(`/users/${encodeURIComponent(src.mailbox).replace(/[.]/g, '\\.')}/messages/[^/]+/move$`),
    );
    const first = runWork(src.id, sent.immutableId);
    const drop = await held; // the job is stored, the move is not answered: this worker is as good as dead
    expect(await jobsOf(src.mailbox, sent.internetMessageId)).toHaveLength(1);
    expect(graph.mail.messages(src.mailbox, 'Inbox')).toHaveLength(1);
    drop();
    await expect(first).rejects.toThrow();

    // The backstop reads the folder again and the message is taken in again: a duplicate, only moved.
    await readAllSources(deps());
    await waitFor('the message moved', () => inFolder(src.mailbox, 'ScanRelay/Processed').length === 1);
    await mailboxWorkDone();
    expect(await jobsOf(src.mailbox, sent.internetMessageId)).toHaveLength(1);
    const records = await host.services.storage.mailboxMessages.latest(src.id, 10);
    expect(records.map((r) => r.outcome)).toEqual(['duplicate']); // the same row, written again
  });
});

/** Runs one piece of message work in this process, as the queue worker would. */
async function runWork(sourceId: string, messageId: string): Promise<void> {
  const { runMailboxWork } = await import('../../shared/mailbox');
  await runMailboxWork({ kind: 'message', sourceId, messageId }, deps());
}

describe('messages that are refused', () => {
  it.each([
    [
      'a sender not in allowedSenders',
      { from: { address: 'stranger@elsewhere.example' }, attachments: [pdf('a.pdf')] },
      'sender_not_allowed',
      /stranger@elsewhere\.example/,
    ],
    [
      'no attachment of an accepted type',
      {
        from: PRINTER,
        attachments: [{ kind: 'file' as const, name: 'tool.exe', contentType: 'application/octet-stream', content: Buffer.from('MZ') }],
      },
      'no_usable_attachment',
      /1 attachment\(s\), none of an accepted type/,
    ],
    ['no attachment at all', { from: PRINTER, attachments: [] }, 'no_usable_attachment', /no attachment/],
    [
      'files over maxMessageBytes',
      { from: PRINTER, attachments: [pdf('a.pdf', 60_000), pdf('b.pdf', 60_000)] },
      'message_too_large',
      /maxMessageBytes \(100000\)/,
    ],
  ])('%s: moved to ScanRelay/Rejected with the reason recorded, no job, nothing deleted', async (_what, message, code, reason) => {
    const src = await newSource({ maxMessageBytes: 100_000 });
    const sent = graph.mail.deliver(src.mailbox, { subject: 'Refused', ...message });
    await waitFor('the message rejected', () => inFolder(src.mailbox, 'ScanRelay/Rejected').length === 1);
    const [record] = await host.services.storage.mailboxMessages.latest(src.id, 10);
    expect(record).toMatchObject({ outcome: 'rejected', code, internetMessageId: sent.internetMessageId });
    expect(record!.reason).toMatch(reason);
    await mailboxWorkDone();
    expect(await jobsOf(src.mailbox, sent.internetMessageId)).toEqual([]);
    expect(graph.mail.permanentlyDeleted(src.mailbox)).toEqual([]);
    expect(await host.services.storage.scanJobs.getClaim(mailboxKey(src.mailbox, sent.internetMessageId))).toBeUndefined();
  });
});

describe('notifications', () => {
  it('a wrong clientState is answered 202, ignored and logged; the message waits for the backstop', async () => {
    const src = await newSource();
    const sent = graph.mail.deliver(src.mailbox, { from: PRINTER, subject: 'Forged', attachments: [pdf('a.pdf')] }, 'inbox', {
      notify: false,
    });
    expect(await graph.mail.notify(src.subscriptionId, sent.immutableId, { clientState: 'forged-client-state' })).toBe(202);
    await mailboxWorkDone();
    expect(host.logged().some((l) => /warn.*wrong clientState or an unknown subscription was ignored/.test(l))).toBe(true);
    expect(host.logged().join('\n')).not.toContain('forged-client-state');
    expect(await jobsOf(src.mailbox, sent.internetMessageId)).toEqual([]);
    expect(graph.mail.messages(src.mailbox, 'Inbox')).toHaveLength(1);
  });

  it('the validation handshake is echoed as text/plain, and a forged one cannot inject markup', async () => {
    const res = await fetch(`${host.server.url}/api/mailbox/notifications?validationToken=${encodeURIComponent('<script>x</script>')}`, {
      method: 'POST',
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    expect(await res.text()).toBe('<script>x</script>');
  });

  it('a body that is not JSON is refused with 400; a JSON body without notifications is answered 202', async () => {
    const bad = await fetch(`${host.server.url}/api/mailbox/notifications`, {
      method: 'POST',
      body: '{',
      headers: { 'content-type': 'application/json' },
    });
    expect(bad.status).toBe(400);
    const empty = await fetch(`${host.server.url}/api/mailbox/notifications`, {
      method: 'POST',
      body: '{"value":[]}',
      headers: { 'content-type': 'application/json' },
    });
    expect(empty.status).toBe(202);
  });
});

describe('subscriptions', () => {
  it('an expiring subscription is renewed by the timer', async () => {
    const src = await newSource();
    const before = graph.mail.subscriptions().find((s) => s.id === src.subscriptionId)!;
    // Two and a half days later less than a day is left: the timer renews it.
    const later = new Date(Date.now() + 2.5 * 86_400_000);
    const run = await keepSubscriptions(deps(), later);
    expect(run.renewed).toBeGreaterThanOrEqual(1);
    const after = graph.mail.subscriptions().find((s) => s.id === src.subscriptionId)!;
    expect(new Date(after.expirationDateTime).getTime()).toBeGreaterThan(new Date(before.expirationDateTime).getTime() + 2 * 86_400_000);
  });

  it('a subscription Graph dropped without telling is created again when it is due', async () => {
    const src = await newSource();
    graph.mail.removeSubscription(src.subscriptionId);
    const again = await keepSubscriptions(deps(), new Date(Date.now() + 2.5 * 86_400_000));
    expect(again).toMatchObject({ created: 1, failed: 0 });
    const fresh = graph.mail.subscriptions().filter((s) => s.mailbox === src.mailbox);
    expect(fresh).toHaveLength(1);
    expect(fresh[0]!.id).not.toBe(src.subscriptionId);
    expect(
      (await host.services.storage.mailboxState.subscriptions()).filter((s) => s.sourceId === src.id).map((s) => s.subscriptionId),
    ).toEqual([fresh[0]!.id]);
  });

  it('`missed` triggers a delta read that finds the message', async () => {
    const src = await newSource();
    const sent = graph.mail.deliver(src.mailbox, { from: PRINTER, subject: 'Missed', attachments: [pdf('a.pdf')] }, 'inbox', {
      notify: false,
    });
    expect(await graph.mail.lifecycle(src.subscriptionId, 'missed')).toBe(202);
    await storedJob(src.mailbox, sent.internetMessageId);
    await waitFor('the message moved', () => inFolder(src.mailbox, 'ScanRelay/Processed').length === 1);
  });

  it('`reauthorizationRequired` renews the subscription, and held notifications flow again', async () => {
    const src = await newSource();
    const before = graph.mail.subscriptions().find((s) => s.id === src.subscriptionId)!;
    expect(await graph.mail.lifecycle(src.subscriptionId, 'reauthorizationRequired', { pause: true })).toBe(202);
    await waitFor('the subscription renewed', () => !graph.mail.subscriptions().find((s) => s.id === src.subscriptionId)?.paused);
    expect(
      new Date(graph.mail.subscriptions().find((s) => s.id === src.subscriptionId)!.expirationDateTime).getTime(),
    ).toBeGreaterThanOrEqual(new Date(before.expirationDateTime).getTime());
    const sent = graph.mail.deliver(src.mailbox, { from: PRINTER, subject: 'After', attachments: [pdf('a.pdf')] });
    await storedJob(src.mailbox, sent.internetMessageId);
  });

  it('`subscriptionRemoved` subscribes again and reads what was missed', async () => {
    const src = await newSource();
    const sent = graph.mail.deliver(src.mailbox, { from: PRINTER, subject: 'Removed', attachments: [pdf('a.pdf')] }, 'inbox', {
      notify: false,
    });
    expect(await graph.mail.lifecycle(src.subscriptionId, 'subscriptionRemoved')).toBe(202);
    await storedJob(src.mailbox, sent.internetMessageId);
    await waitFor('a new subscription', () =>
      graph.mail.subscriptions().some((s) => s.mailbox === src.mailbox && s.id !== src.subscriptionId),
    );
  });
});

describe('throttling', () => {
  it('eight attachments: never more than 4 requests in flight to the mailbox, no 429; throttled requests wait for Retry-After', async () => {
    const src = await newSource();
    const files = Array.from({ length: 8 }, (_, i) => pdf(`page ${i + 1}.pdf`, 100_000));
    const messages = [1, 2, 3].map((i) => graph.mail.deliver(src.mailbox, { from: PRINTER, subject: `Burst ${i}`, attachments: files }));
    await Promise.all(messages.map((m) => storedJob(src.mailbox, m.internetMessageId)));
    expect(graph.mail.maxConcurrent(src.mailbox)).toBeLessThanOrEqual(4);
    const mine = graph.requests.filter((r) => r.url.includes(encodeURIComponent(src.mailbox)));
    expect(mine.filter((r) => r.status === 429)).toEqual([]);

    graph.throttleNext(2, 1);
    const late = graph.mail.deliver(src.mailbox, { from: PRINTER, subject: 'Throttled', attachments: [pdf('a.pdf')] });
    await storedJob(src.mailbox, late.internetMessageId);
  });
});

describe('delegated access', () => {
  it("a mailboxIngest connection's account reads its own mailbox through /users/{mailbox}; another's mailbox is refused and recorded", async () => {
    const own = `delegate-${++n}@contoso.example`;
    graph.mail.mailbox(own);
    graph.acceptToken((t) => (t === 'delegated-token' ? own : appToken(t)));
    try {
      const sources = host.services.mailboxSourcesDeps();
      const base = { access: 'delegated', connectionId: 'scans-inbox', workflowName: WORKFLOW, allowedSenders: ['contoso.example'] };
      await createSource(sources, ACTOR, { id: `own-${n}`, mailbox: own, ...base });
      await createSource(sources, ACTOR, { id: `other-${n}`, mailbox: `other-${n}@contoso.example`, ...base });
      const calls: Array<[string, boolean]> = [];
      const queued: MailboxWork[] = [];
      const delegated: MailboxDeps = {
        ...deps(),
        // Kept here: the host's own worker would ask the connection store for a token.
        queue: { enqueue: async (w) => void queued.push(w) },
        tokens: {
          delegated: async (connectionId, forceRefresh) => {
            calls.push([connectionId, forceRefresh]);
            return 'delegated-token';
          },
          application: () => Promise.reject(new Error('no app token for a delegated source')),
        },
      };
      const sent = graph.mail.deliver(own, { from: PRINTER, subject: 'Delegated', attachments: [pdf('a.pdf')] }, 'inbox', {
        notify: false,
      });
      const source = (await host.services.mailboxSourcesDeps().sources.get(`own-${n}`))!;
      const { readSource, runMailboxWork, sourceOf } = await import('../../shared/mailbox');
      expect(await readSource(sourceOf(source)!, delegated)).toMatchObject({ queued: 1, fullRound: true });
      expect(queued).toEqual([{ kind: 'message', sourceId: `own-${n}`, messageId: sent.immutableId }]);
      await runMailboxWork({ kind: 'message', sourceId: `own-${n}`, messageId: sent.immutableId }, delegated);
      expect(await jobsOf(own, sent.internetMessageId)).toHaveLength(1);
      expect(inFolder(own, 'ScanRelay/Processed')).toHaveLength(1);
      expect(calls.every(([id]) => id === 'scans-inbox')).toBe(true);

      const other = sourceOf((await host.services.mailboxSourcesDeps().sources.get(`other-${n}`))!)!;
      await expect(readSource(other, delegated)).rejects.toThrow(/access|denied/i);
      const status = await host.services.storage.mailboxState.status(other.id);
      expect(status.problem).toMatch(/access|denied/i);
      // The Overview's "needs attention" names it, with the way to its page.
      const { mailboxAttention } = await import('../../shared/overview');
      const items = await mailboxAttention(host.services.mailboxSourcesDeps());
      expect(items.filter((i) => i.title.includes(other.id))).toEqual([
        expect.objectContaining({
          severity: 'bad',
          kind: 'mailbox',
          fix: expect.objectContaining({ href: `/api/console/mailboxes/${other.id}` }),
        }),
      ]);
      expect(items.some((i) => i.title.includes(`'own-${n}'`))).toBe(false);
    } finally {
      graph.acceptToken(appToken);
    }
  });
});
