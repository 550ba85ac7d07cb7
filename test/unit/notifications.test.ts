/**
 * Notifications without storage: every event as each channel receives it (the Teams card valid
 * against the Adaptive Card schema it declares, values unable to make links), what the queue
 * worker accepts as a message, a channel's options, and the watch timer raising each change of
 * state once (a secret at 30, 7 and 1 days and expired; the directory sync and SCIM failing and
 * recovering).
 */
import type { DirectoryConfig, OAuthConfig } from '../../shared/config';
import {
  adaptiveCard,
  channelSchema,
  consoleLinks,
  emailMessage,
  eventId,
  events,
  queuedNotificationOf,
  runNotificationWatch,
  teamsMessage,
  webhookBody,
  type NotificationEvent,
  type Notifier,
  type WatchDeps,
} from '../../shared/notifications';
import { CONFLICT, type ScimErrorRecord, type SyncRunRecord, type WatchedState } from '../../shared/storage';
import { CONNECTORS, parseDestinations } from '../../shared/delivery';
import { adaptiveCardProblems } from '../helpers/adaptiveCard';

const AT = new Date('2026-12-02T08:00:00.000Z');
const links = consoleLinks('https://scanrelay.contoso.com');
const connection = { id: 'smtp-main', displayName: 'Scan to e-mail', type: 'smtpMicrosoft', account: 'scans@contoso.com' };

const every: Array<[string, NotificationEvent]> = [
  [
    'reauthorization',
    events.reauthorizationRequired(
      connection,
      'the refresh token expired (AADSTS700082).',
      AT,
      links.connection('smtp-main'),
      'refresh_token_expired',
    ),
  ],
  ['refused', events.refused(connection, 'The client secret expired.', AT, links.connection('smtp-main'), 'client_secret_expired')],
  ['recovered', events.recovered(connection, AT, links.connection('smtp-main'))],
  ['refresh failing', events.refreshFailing(connection, 3, 'ETIMEDOUT', AT, links.connection('smtp-main'))],
  [
    'credential',
    events.credentialExpiring('oauth-client-secret', new Date(AT.getTime() + 6 * 86_400_000), 7, 'It expires.', links.connections()),
  ],
  [
    'delivery',
    events.deliveryFailed(
      { jobId: 'j1', destination: 'archive', attempt: 5, code: 'destination_refused', reason: 'answered 400' },
      AT,
      links.job('j1'),
    ),
  ],
  ['poisoned', events.jobPoisoned('j2', AT, links.job('j2'))],
  ['directory failing', events.directoryFailing('sync', AT, 'Graph answered 403.', 3, links.directory())],
  ['scim failing', events.directoryFailing('scim', AT, 'the last was answered 401.', 7)],
  ['directory recovered', events.directoryRecovered('scim', AT, links.directory())],
  [
    'scan undeliverable',
    events.scanUndeliverable(
      { jobId: 'j3', destination: 'archive', receivedAt: AT, fileNames: ['a.pdf', 'b [x](y).pdf'], workflowName: 'Invoices' },
      AT,
    ),
  ],
  ['test', events.test('ops', AT, 'jdoe@contoso.com', links.notifications())],
];

describe('events on each channel', () => {
  it.each(every)('%s: a Teams card valid against the Adaptive Card schema of its version, with and without a count', (_n, e) => {
    expect(adaptiveCardProblems(adaptiveCard(e))).toEqual([]);
    expect(adaptiveCardProblems(adaptiveCard(e, { count: 3, since: AT }))).toEqual([]);
    expect(teamsMessage(e)).toMatchObject({ type: 'message', attachments: [{ contentType: 'application/vnd.microsoft.card.adaptive' }] });
  });

  it.each(every)('%s: one-line title, an id that is the hash of its key, a webhook body with the stable fields', (_n, e) => {
    expect(e.id).toBe(eventId(e.key));
    expect(e.title).not.toMatch(/[\r\n]/);
    const body = webhookBody(e);
    expect(Object.keys(body).sort()).toEqual(
      ['schema', 'id', 'type', 'severity', 'occurredAt', 'title', 'text', 'subject', 'facts', ...(e.link ? ['link'] : [])].sort(),
    );
    expect(body.schema).toBe('scanrelay.notification/1');
  });

  it('the link of a reauthorization is the connection page of the console', () => {
    expect(every[0]![1].link).toEqual({
      title: 'Authorize it again',
      url: 'https://scanrelay.contoso.com/api/console/connections/smtp-main',
    });
    expect(consoleLinks(undefined).connection('x')).toBeUndefined();
    expect(events.recovered(connection, AT).link).toBeUndefined();
  });

  it('a value that looks like a markdown link cannot make one on the card; CR/LF cannot break the title or a mail header', () => {
    const hostile = { ...connection, displayName: 'Evil [click](https://evil.example)\r\nBcc: x@evil.example' };
    const e = events.reauthorizationRequired(hostile, 'see [here](https://evil.example).', AT);
    const card = JSON.stringify(adaptiveCard(e));
    expect(card).not.toContain('](');
    expect(card).not.toContain('[click');
    expect(e.title).not.toMatch(/[\r\n]/);
    const mail = emailMessage(e);
    expect(mail.subject).not.toMatch(/[\r\n]/);
    expect(mail.text).toContain('Connection: Evil [click](https://evil.example) Bcc: x@evil.example (smtp-main)');
  });

  it('the same change of state has the same key; another change another one', () => {
    const a = events.reauthorizationRequired(connection, 'r', AT);
    const b = events.reauthorizationRequired(connection, 'other words', AT);
    const c = events.reauthorizationRequired(connection, 'r', new Date(AT.getTime() + 1));
    expect(a.id).toBe(b.id);
    expect(c.id).not.toBe(a.id);
    expect(events.credentialExpiring('s', AT, 7, 'm').id).not.toBe(events.credentialExpiring('s', AT, 1, 'm').id);
  });

  it('the failures of a destination share a group; the e-mail tells the count', () => {
    const d = every[5]![1];
    expect(d.group).toBe('delivery.failed:archive');
    expect(emailMessage(d, { count: 4, since: AT }).text).toContain('4 more event(s) like this one since 2026-12-02T08:00:00.000Z');
    expect(webhookBody(d, { count: 4, since: AT }).alsoSince).toEqual({ count: 4, since: AT.toISOString() });
  });
});

describe('queue messages', () => {
  const e = every[0]![1];
  it('takes a message that is a notification, as JSON text or an object', () => {
    expect(queuedNotificationOf(JSON.stringify({ event: e, attempt: 2 }))).toEqual({ event: e, attempt: 2 });
    expect(queuedNotificationOf({ event: e })).toEqual({ event: e, attempt: 1 });
  });
  it.each([
    ['not JSON', '{'],
    ['no event', { attempt: 1 }],
    ['an id that is not its key’s hash', { event: { ...e, id: 'f'.repeat(32) }, attempt: 1 }],
    ['an unknown type', { event: { ...e, type: 'job.exploded' }, attempt: 1 }],
    ['facts that are not a list', { event: { ...e, facts: 'x' }, attempt: 1 }],
  ])('drops %s', (_what, message) => {
    expect(queuedNotificationOf(message)).toBeUndefined();
  });
});

describe('channel options', () => {
  it('fills in the defaults: every event but test, enabled, no private networks, 10 s', () => {
    const c = channelSchema.parse({ kind: 'teams', name: 'IT', url: 'https://prod-00.westeurope.logic.azure.com/workflows/x?sig=y' });
    expect(c).toMatchObject({ enabled: true, allowPrivateNetworks: false, timeoutSeconds: 10 });
    expect(c.events).not.toContain('test');
    expect(c.events).toContain('delivery.failed');
    const m = channelSchema.parse({ kind: 'email', name: 'Admins', connectionId: 'c1', to: ['a@contoso.com'] });
    expect(m).toMatchObject({ smtpHost: 'smtp.office365.com', smtpPort: 587 });
  });
  it.each([
    [{ kind: 'webhook', name: 'x', url: 'javascript:alert(1)' }],
    [{ kind: 'webhook', name: 'x', url: 'https://example.com/', events: ['test'] }],
    [{ kind: 'webhook', name: 'x', url: 'https://example.com/', timeoutSeconds: 0 }],
    [{ kind: 'email', name: 'x', connectionId: 'c', to: [] }],
    [{ kind: 'email', name: 'x', connectionId: 'c', to: Array.from({ length: 21 }, (_, i) => `a${i}@contoso.com`) }],
    [{ kind: 'email', name: 'x', connectionId: 'c', to: ['a@contoso.com'], smtpHost: 'evil.example\r\nRCPT TO:<x>' }],
    [{ kind: 'webhook', name: ' ', url: 'https://example.com/' }],
  ])('refuses %j', (raw) => {
    expect(channelSchema.safeParse(raw).success).toBe(false);
  });
});

describe("a destination's notifyUser", () => {
  const doc = (notifyUser: unknown) => ({
    version: 1,
    destinations: [{ id: 'a', type: 'httpForward', when: {}, options: { url: 'https://example.com/in' }, notifyUser }],
  });
  it('names a channel by its id, kept on the destination', () => {
    expect(parseDestinations(doc('user-mail'), CONNECTORS)[0]!.notifyUser).toBe('user-mail');
    expect(parseDestinations(doc(undefined), CONNECTORS)[0]!.notifyUser).toBeUndefined();
  });
  it.each([['Bad Id'], [''], [42], [['user-mail']]])('refuses %j, naming the field', (v) => {
    expect(() => parseDestinations(doc(v), CONNECTORS)).toThrow(
      /destinations\[0\]\.notifyUser must be the id of an e-mail notification channel/,
    );
  });
});

describe('the watch timer', () => {
  function watch(
    overrides: Partial<WatchDeps> & { expiresOn?: Date; runs?: SyncRunRecord[]; scim?: { errors: ScimErrorRecord[]; lastStatus?: number } },
  ) {
    const raised: NotificationEvent[] = [];
    const seen = new Set<string>();
    const states = new Map<string, WatchedState>();
    let n = 0;
    const notifier: Notifier = {
      links,
      notify: async (e) => {
        if (!seen.has(e.id)) raised.push(e);
        seen.add(e.id);
      },
    };
    const deps: WatchDeps = {
      oauth: { clientId: 'c', clientIdByType: {}, federatedIdentity: undefined } as unknown as OAuthConfig,
      secrets: { expiresOn: async () => overrides.expiresOn },
      directory: { source: overrides.runs ? 'sync' : 'scim' } as DirectoryConfig,
      activity: {
        syncRuns: async () => overrides.runs ?? [],
        scimErrors: async () => overrides.scim?.errors ?? [],
        lastScimRequest: async () =>
          overrides.scim?.lastStatus === undefined
            ? undefined
            : { at: AT, method: 'GET', resource: 'Users', path: '/Users', status: overrides.scim.lastStatus },
      },
      states: {
        state: async (id) => states.get(id),
        putState: async (id, s, etag) => {
          if (states.get(id)?.etag !== etag) return CONFLICT;
          const written = { ...s, etag: String(++n) };
          states.set(id, written);
          return written;
        },
      },
      records: { deleteOlderThan: async () => 0 },
      notifier,
      ...overrides,
    };
    return { deps, raised };
  }

  it('a client secret: once at 30 days, once at 7, once at 1, once expired, however often the timer runs', async () => {
    const expiresOn = new Date('2027-01-01T00:00:00Z');
    const { deps, raised } = watch({ expiresOn });
    const at = (days: number) => new Date(expiresOn.getTime() - days * 86_400_000);
    for (const days of [40, 29.5, 20, 10, 6.5, 3, 0.5, 0.2, -1, -2]) {
      await runNotificationWatch({ ...deps, now: () => at(days) });
    }
    expect(raised.map((e) => e.title)).toEqual([
      "The client secret 'oauth-client-secret' expires within 30 day(s)",
      "The client secret 'oauth-client-secret' expires within 7 day(s)",
      "The client secret 'oauth-client-secret' expires within 1 day(s)",
      "The client secret 'oauth-client-secret' has expired",
    ]);
    expect(raised.map((e) => e.severity)).toEqual(['info', 'warning', 'error', 'error']);
  });

  const run = (status: SyncRunRecord['status'], minutesAgo: number): SyncRunRecord => ({
    id: `r${minutesAgo}`,
    startedAt: new Date(AT.getTime() - minutesAgo * 60_000),
    finishedAt: new Date(AT.getTime() - minutesAgo * 60_000 + 1000),
    status,
    ...(status === 'failed' ? { error: { code: 'permission_denied', message: 'Graph answered 403: grant User.Read.All.' } } : {}),
  });

  it('the directory sync: failing after three failed runs in a row (once), recovered when a run completes (once)', async () => {
    const runs: SyncRunRecord[] = [run('completed', 60), run('failed', 45)];
    const { deps, raised } = watch({ runs });
    const tick = () => runNotificationWatch({ ...deps, now: () => AT });
    await tick();
    runs.unshift(run('failed', 30));
    await tick();
    expect(raised).toEqual([]);
    runs.unshift(run('failed', 15));
    await tick();
    runs.unshift(run('running', 1));
    await tick();
    runs.unshift(run('failed', 0));
    await tick();
    expect(raised.map((e) => e.type)).toEqual(['directory.failing']);
    expect(raised[0]!.text).toContain('3 runs in a row failed: Graph answered 403');
    runs.unshift({ ...run('completed', -15), id: 'good' });
    await tick();
    await tick();
    expect(raised.map((e) => e.type)).toEqual(['directory.failing', 'directory.recovered']);
  });

  it('SCIM: failing when 401/403/5xx keep coming (not 404 or 409), recovered once a request succeeds', async () => {
    const error = (status: number, count: number): ScimErrorRecord => ({
      at: new Date(AT.getTime() - 30 * 60_000),
      lastAt: new Date(AT.getTime() - 60_000),
      count,
      method: 'GET',
      path: '/Users',
      status,
      detail: status === 401 ? 'The bearer token is wrong.' : 'x',
    });
    const scim = { errors: [error(404, 50), error(409, 20)], lastStatus: 404 };
    const { deps, raised } = watch({ scim });
    const tick = () => runNotificationWatch({ ...deps, now: () => AT });
    await tick();
    expect(raised).toEqual([]);
    scim.errors.push(error(401, 6));
    scim.lastStatus = 401;
    await tick();
    await tick();
    expect(raised.map((e) => [e.type, e.subject.id])).toEqual([['directory.failing', 'scim']]);
    expect(raised[0]!.text).toContain('answered 401: The bearer token is wrong.');
    scim.lastStatus = 200;
    await tick();
    await tick();
    expect(raised.map((e) => e.type)).toEqual(['directory.failing', 'directory.recovered']);
  });
});
