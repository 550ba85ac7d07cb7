/**
 * What ScanRelay tells administrators about: the event types, an event as a channel receives it,
 * and the events themselves, worded once here for every channel (webhook, Teams, e-mail).
 *
 * Each event has a `key` that names the change of state it reports (a connection's state change,
 * a delivery's end, a threshold of a secret's expiry): the same key is notified once, however
 * often or by however many instances it is raised. Its `id` is the key's hash (a safe table key).
 */
import { createHash } from 'node:crypto';

export const EVENT_TYPES = [
  'connection.reauthorization_required',
  'connection.refused',
  'connection.recovered',
  'connection.refresh_failing',
  'credential.expiring',
  'delivery.failed',
  'job.poisoned',
  'directory.failing',
  'directory.recovered',
  'scan.undeliverable',
  'test',
] as const;
export type EventType = (typeof EVENT_TYPES)[number];

/** Each type in a line (docs/notifications.md and the console's event choices). */
export const EVENT_DESCRIPTIONS: Record<EventType, string> = {
  'connection.reauthorization_required':
    'A connection must be authorized again (refresh token expired or revoked, sign-in frequency, MFA, consent): with the link that fixes it.',
  'connection.refused':
    'The identity platform refuses a connection for the app registration itself (expired client secret, app missing from the tenant, redirect URI).',
  'connection.recovered': 'A connection that needed authorizing, was refused or kept failing works again.',
  'connection.refresh_failing': 'Refreshes of a connection failed three times in a row (the tokens are kept and retried).',
  'credential.expiring': "The app registration's client secret expires in 30, 7 or 1 day(s), or has expired.",
  'delivery.failed':
    'A destination of a scan failed for good (no attempt left). Several for one destination within an hour are one notification with a count.',
  'job.poisoned': 'A delivery message was given up by the host (poison queue) and could not be recovered.',
  'directory.failing': 'The directory sync failed three runs in a row, or SCIM provisioning requests keep failing.',
  'directory.recovered': 'The directory sync completed again, or SCIM requests succeed again, after failing.',
  'scan.undeliverable':
    "To the scanning user, not to channels' subscribers: their scan could not be delivered to a destination whose `notifyUser` names an e-mail channel.",
  test: 'A test sent from the console or the admin API (always sent to the channel tested, whatever its events).',
};

export type Severity = 'error' | 'warning' | 'info';

export interface NotificationEvent {
  /** The key's hash: one event per key. */
  id: string;
  /** The change of state reported, e.g. `connection:abc:reauthorization_required:2026-12-01T10:00:00.000Z`. */
  key: string;
  type: EventType;
  severity: Severity;
  occurredAt: string;
  /** One line. */
  title: string;
  /** What happened and what to do, for a person. */
  text: string;
  /** The page that fixes it or shows more. */
  link?: { title: string; url: string };
  /** What it is about. */
  subject: { kind: 'connection' | 'credential' | 'destination' | 'job' | 'directory' | 'channel' | 'user'; id: string; name?: string };
  /** Facts as name/value pairs, in order. */
  facts: Array<{ name: string; value: string }>;
  /**
   * Events of one group are coalesced: after one is sent, the next ones within GROUP_WINDOW_MS are
   * recorded, not sent, and counted in the next one sent.
   */
  group?: string;
}

/** How long after a group's notification its next events are only counted. */
export const GROUP_WINDOW_MS = 60 * 60_000;

export function eventId(key: string): string {
  return createHash('sha256').update(key).digest('hex').slice(0, 32);
}

type Draft = Omit<NotificationEvent, 'id' | 'occurredAt'> & { occurredAt?: Date };

function event(d: Draft): NotificationEvent {
  const { occurredAt, ...rest } = d;
  return { ...rest, id: eventId(d.key), occurredAt: (occurredAt ?? new Date()).toISOString() };
}

/** A bounded, single-line text (facts and titles come from stored values and error messages). */
export function oneLine(s: string, max = 500): string {
  return s
    .replace(/[\p{Cc}\s]+/gu, ' ')
    .trim()
    .slice(0, max);
}

export interface ConnectionFacts {
  id: string;
  displayName?: string;
  type: string;
  account?: string;
}

/** A stored connection as an event names it. */
export function factsOf(c: { id: string; displayName?: string; type: string; account?: { upn?: string } }): ConnectionFacts {
  return { id: c.id, displayName: c.displayName, type: c.type, ...(c.account?.upn ? { account: c.account.upn } : {}) };
}

function connectionFacts(c: ConnectionFacts): NotificationEvent['facts'] {
  return [
    { name: 'Connection', value: oneLine(c.displayName ? `${c.displayName} (${c.id})` : c.id) },
    { name: 'Type', value: c.type },
    ...(c.account ? [{ name: 'Account', value: oneLine(c.account) }] : []),
  ];
}

const fixLink = (url: string | undefined, title: string) => (url ? { link: { title, url } } : {});

export const events = {
  reauthorizationRequired(c: ConnectionFacts, reason: string, at: Date, consoleUrl?: string, code?: string): NotificationEvent {
    return event({
      key: `connection:${c.id}:reauthorization_required:${at.toISOString()}`,
      type: 'connection.reauthorization_required',
      severity: 'error',
      occurredAt: at,
      title: `Connection ${oneLine(c.displayName ?? c.id, 100)} must be authorized again`,
      text: oneLine(
        `Deliveries through it fail until it is: ${reason} Open the connection in the ScanRelay console and choose Authorize, signed in as the account it should use.`,
        1000,
      ),
      ...fixLink(consoleUrl, 'Authorize it again'),
      subject: { kind: 'connection', id: c.id, name: c.displayName },
      facts: [...connectionFacts(c), ...(code ? [{ name: 'Code', value: code }] : [])],
    });
  },

  refused(c: ConnectionFacts, reason: string, at: Date, consoleUrl?: string, code?: string): NotificationEvent {
    return event({
      key: `connection:${c.id}:error:${at.toISOString()}`,
      type: 'connection.refused',
      severity: 'error',
      occurredAt: at,
      title: `Connection ${oneLine(c.displayName ?? c.id, 100)} is refused by the identity platform`,
      text: oneLine(`${reason} Authorizing again does not help: fix what this says, then refresh the connection in the console.`, 1000),
      ...fixLink(consoleUrl, 'Open the connection'),
      subject: { kind: 'connection', id: c.id, name: c.displayName },
      facts: [...connectionFacts(c), ...(code ? [{ name: 'Code', value: code }] : [])],
    });
  },

  recovered(c: ConnectionFacts, at: Date, consoleUrl?: string): NotificationEvent {
    return event({
      key: `connection:${c.id}:recovered:${at.toISOString()}`,
      type: 'connection.recovered',
      severity: 'info',
      occurredAt: at,
      title: `Connection ${oneLine(c.displayName ?? c.id, 100)} works again`,
      text: 'Its tokens refresh again; deliveries through it go ahead. Redeliver the scans that failed meanwhile from the Jobs page.',
      ...fixLink(consoleUrl, 'Open the connection'),
      subject: { kind: 'connection', id: c.id, name: c.displayName },
      facts: connectionFacts(c),
    });
  },

  refreshFailing(c: ConnectionFacts, failures: number, reason: string, since: Date, consoleUrl?: string): NotificationEvent {
    return event({
      // One per run of failures: `since` is when the run began (the connection's last good refresh).
      key: `connection:${c.id}:refresh_failing:${since.toISOString()}`,
      type: 'connection.refresh_failing',
      severity: 'warning',
      title: `Refreshes of connection ${oneLine(c.displayName ?? c.id, 100)} keep failing`,
      text: oneLine(
        `${failures} refreshes in a row failed (${reason}). Its tokens are kept and retried with back-off; if the identity platform or the network stays unreachable, its access tokens expire and deliveries through it fail.`,
        1000,
      ),
      ...fixLink(consoleUrl, 'Open the connection'),
      subject: { kind: 'connection', id: c.id, name: c.displayName },
      facts: [...connectionFacts(c), { name: 'Failures in a row', value: String(failures) }],
    });
  },

  /** `threshold`: the days-left mark crossed (30, 7 or 1), 0 once it has expired. */
  credentialExpiring(secret: string, expiresOn: Date, threshold: number, message: string, consoleUrl?: string): NotificationEvent {
    const expired = threshold <= 0;
    return event({
      key: `credential:${secret}:${expiresOn.toISOString()}:${expired ? 'expired' : threshold}`,
      type: 'credential.expiring',
      severity: expired || threshold <= 1 ? 'error' : threshold <= 7 ? 'warning' : 'info',
      title: expired ? `The client secret '${secret}' has expired` : `The client secret '${secret}' expires within ${threshold} day(s)`,
      text: oneLine(message, 1000),
      ...fixLink(consoleUrl, 'Open the connections'),
      subject: { kind: 'credential', id: secret },
      facts: [
        { name: 'Secret', value: secret },
        { name: 'Expires', value: expiresOn.toISOString() },
      ],
    });
  },

  deliveryFailed(
    d: { jobId: string; destination: string; attempt: number; code?: string; reason: string; fileCount?: number },
    at: Date,
    jobUrl?: string,
  ): NotificationEvent {
    return event({
      key: `delivery:${d.jobId}:${d.destination}:${at.toISOString()}`,
      type: 'delivery.failed',
      severity: 'error',
      occurredAt: at,
      title: `A scan could not be delivered to ${oneLine(d.destination, 100)}`,
      text: oneLine(
        `${d.reason} Once the cause is fixed, redeliver it from the job's page (or POST /api/scan/${d.jobId}/redeliver).`,
        1000,
      ),
      ...fixLink(jobUrl, 'Open the job'),
      subject: { kind: 'destination', id: d.destination },
      facts: [
        { name: 'Job', value: d.jobId },
        { name: 'Destination', value: d.destination },
        ...(d.code ? [{ name: 'Code', value: d.code }] : []),
        { name: 'Attempts', value: String(d.attempt) },
      ],
      group: `delivery.failed:${d.destination}`,
    });
  },

  jobPoisoned(jobId: string, at: Date, jobUrl?: string): NotificationEvent {
    return event({
      key: `poisoned:${jobId}:${at.toISOString()}`,
      type: 'job.poisoned',
      severity: 'error',
      occurredAt: at,
      title: 'A scan job was given up by the Functions host',
      text: "Its delivery message failed too often and went to the poison queue; the destinations it had not reached are failed. The log of the job's invocations has the cause; redeliver it from the job's page.",
      ...fixLink(jobUrl, 'Open the job'),
      subject: { kind: 'job', id: jobId },
      facts: [{ name: 'Job', value: jobId }],
      group: 'job.poisoned',
    });
  },

  directoryFailing(what: 'sync' | 'scim', since: Date, reason: string, count: number, consoleUrl?: string): NotificationEvent {
    return event({
      key: `directory:${what}:failing:${since.toISOString()}`,
      type: 'directory.failing',
      severity: 'error',
      title: what === 'sync' ? 'The directory sync keeps failing' : 'SCIM provisioning requests keep failing',
      text: oneLine(
        what === 'sync'
          ? `${count} runs in a row failed: ${reason} Deliveries that look users up use the directory as it was at the last good run.`
          : `${count} requests from the provisioning service failed since ${since.toISOString()}: ${reason} Check the provisioning logs of the enterprise application in Entra ID.`,
        1000,
      ),
      ...fixLink(consoleUrl, 'Open the directory'),
      subject: { kind: 'directory', id: what },
      facts: [
        { name: 'Source', value: what === 'sync' ? 'directory sync' : 'SCIM provisioning' },
        { name: what === 'sync' ? 'Failed runs' : 'Failed requests', value: String(count) },
        { name: 'Since', value: since.toISOString() },
      ],
    });
  },

  directoryRecovered(what: 'sync' | 'scim', since: Date, consoleUrl?: string): NotificationEvent {
    return event({
      key: `directory:${what}:recovered:${since.toISOString()}`,
      type: 'directory.recovered',
      severity: 'info',
      title: what === 'sync' ? 'The directory sync completed again' : 'SCIM provisioning requests succeed again',
      text:
        what === 'sync'
          ? 'A run completed after failing; the directory is up to date again.'
          : 'The provisioning service is answered without error again; its next cycles bring the directory up to date.',
      ...fixLink(consoleUrl, 'Open the directory'),
      subject: { kind: 'directory', id: what },
      facts: [{ name: 'Failing since', value: since.toISOString() }],
    });
  },

  /** For the person who scanned: what did not arrive, in words for them (no internal reason: their IT is told that). */
  scanUndeliverable(
    s: { jobId: string; destination: string; receivedAt: Date; fileNames: readonly string[]; workflowName?: string },
    at: Date,
  ): NotificationEvent {
    const files = s.fileNames.slice(0, 10).map((n) => oneLine(n, 200));
    return event({
      key: `user:${s.jobId}:${s.destination}:${at.toISOString()}`,
      type: 'scan.undeliverable',
      severity: 'warning',
      occurredAt: at,
      title: s.workflowName ? `Your scan (${oneLine(s.workflowName, 100)}) could not be delivered` : 'Your scan could not be delivered',
      text: oneLine(
        `Your scan of ${s.receivedAt.toISOString().replace('T', ' ').slice(0, 16)} UTC did not reach ${oneLine(s.destination, 100)}. Your IT administrators have been told. Scan it again later, or ask them when it will be delivered.`,
        1000,
      ),
      subject: { kind: 'user', id: s.jobId },
      facts: [
        { name: 'Destination', value: oneLine(s.destination, 100) },
        { name: 'Scanned', value: s.receivedAt.toISOString() },
        ...(files.length ? [{ name: files.length > 1 ? 'Files' : 'File', value: files.join(', ') }] : []),
        { name: 'Job', value: s.jobId },
      ],
    });
  },

  test(channelId: string, at: Date, by: string, consoleUrl?: string): NotificationEvent {
    return event({
      key: `test:${channelId}:${at.toISOString()}`,
      type: 'test',
      severity: 'info',
      occurredAt: at,
      title: 'ScanRelay test notification',
      text: oneLine(`${by} sent this test to the channel '${channelId}'. It arrived: this channel works.`),
      ...fixLink(consoleUrl, 'Open the notifications'),
      subject: { kind: 'channel', id: channelId },
      facts: [{ name: 'Channel', value: channelId }],
    });
  },
};
