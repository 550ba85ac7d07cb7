/**
 * The app's wiring: configuration, secret store and storage, created once per process on
 * first use and shared by every function.
 */
import { limitsFor, Pacer } from '../delivery/pacing';
import { Sessions, type AccessDeps, type SignInDeps } from '../access';
import { getConfig, type Config } from '../config';
import type { ConsoleDeps } from '../console';
import { ConfigError } from '../errors';
import { CONNECTORS, type DelivererDeps, type DeliveryContext, type RedeliverDeps } from '../delivery';
import { userFacts } from '../delivery/userFacts';
import { createDestinationsSource, type BrowseDeps, type DestinationsSource, type SendTestDeps, type TryOutDeps } from '../destinations';
import { createDirectorySyncDeps, type DirectorySyncDeps } from '../directorySync';
import { ingestAlive, type IngestDeps, type SweepDeps } from '../ingest';
import type { JobsDeps } from '../jobs';
import type { MailboxDeps, SourcesDeps } from '../mailbox';
import { silentLogger, type Logger } from '../log';
import { consoleLinks, queueNotifier, type NotificationsDeps, type Notifier, type WatchDeps, type WorkerDeps } from '../notifications';
import { createOAuthDeps, getAccessToken, type OAuthDeps } from '../oauth';
import { ScimActivity, type ScimDeps } from '../scim';
import { createSecretStore, type SecretStore } from '../secrets';
import { createStorage, type Storage } from '../storage';

export interface Services {
  config: Config;
  secrets: SecretStore;
  storage: Storage;
  ingestDeps(log: Logger): IngestDeps;
  sweepDeps(log: Logger): SweepDeps;
  oauthDeps(log: Logger): OAuthDeps;
  /** Who may call the admin API and the console (admin key, console sessions). */
  accessDeps(): AccessDeps;
  signInDeps(log: Logger): SignInDeps;
  consoleDeps(log: Logger): ConsoleDeps;
  /** The destinations in force (stored and versioned, or the pinned file), for the deliverer, health and the admin API. */
  destinations: DestinationsSource;
  delivererDeps(log: Logger): DelivererDeps;
  /** Test routing. */
  tryOutDeps(log: Logger): TryOutDeps;
  /** A test delivery to one destination. */
  sendTestDeps(log: Logger): SendTestDeps;
  /** Browsing a SharePoint site or a OneDrive for a destination's target. */
  browseDeps(log: Logger): BrowseDeps;
  redeliverDeps(log: Logger): RedeliverDeps;
  /** The jobs' searches, details, files and numbers (reads only). */
  jobsDeps(): JobsDeps;
  scimDeps(log: Logger): ScimDeps;
  directorySyncDeps(log: Logger): DirectorySyncDeps;
  /** Mailbox ingest: notifications, the queue worker, the timers. */
  mailboxDeps(log: Logger): MailboxDeps;
  /** The mailbox sources as administrators manage them. */
  mailboxSourcesDeps(): SourcesDeps;
  /** What raises notification events. */
  notifier(log: Logger): Notifier;
  /** The notification channels, their tests and the events' records. */
  notificationsDeps(log: Logger): NotificationsDeps;
  /** The notification queue's worker. */
  notificationWorkerDeps(log: Logger): WorkerDeps;
  /** The notification timer. */
  notificationWatchDeps(log: Logger): WatchDeps;
}

export function createServices(config: Config): Services {
  const secrets = createSecretStore(config.secrets);
  const storage = createStorage(config.storage);
  const links = consoleLinks(config.oauth.publicBaseUrl);
  const notifier = (log: Logger): Notifier =>
    queueNotifier({ records: storage.notifications, queue: storage.notificationQueue }, links, log);
  const baseOAuthDeps = createOAuthDeps(config.oauth, secrets, storage);
  const oauthDeps = (log: Logger): OAuthDeps => ({ ...baseOAuthDeps(log), notifier: notifier(log) });
  const { cipher, msal } = baseOAuthDeps(silentLogger);
  const sessions = new Sessions(cipher, { idleMs: config.console.sessionIdleMs, maxMs: config.console.sessionMaxMs });
  const accessDeps: AccessDeps = { secrets, sessions, publicBaseUrl: config.oauth.publicBaseUrl };
  // One per process: it spaces out its writes of the last request.
  const scimActivity = new ScimActivity(storage.directoryActivity);
  const signInDeps = (log: Logger): SignInDeps => ({
    config: config.console,
    publicBaseUrl: config.oauth.publicBaseUrl,
    authStates: storage.authStates,
    cipher,
    msal,
    sessions,
    log,
  });
  const destinations = createDestinationsSource({
    store: storage.destinations,
    auditLog: storage.auditLog,
    connectors: CONNECTORS,
    file: config.delivery.destinationsFile,
    pinned: config.delivery.destinationsPinned,
  });
  const deliveryContext = (log: Logger): Omit<DeliveryContext, 'log'> => ({
    getAccessToken: async (connectionId, options) => (await getAccessToken(oauthDeps(log), connectionId, options)).accessToken,
    getApplicationToken: (resource, options) => oauthDeps(log).applicationTokens.get(resource, options?.forceRefresh),
    graphBaseUrl: config.delivery.graphBaseUrl,
    getSecret: (name) => secrets.get(name),
  });
  const findUser = (userName: string) => storage.directory.users.findByUserName(userName);
  // One rate governor per instance: every deliverer of this process shares Microsoft 365's windows.
  const pacer = new Pacer(limitsFor(config.delivery.pacing));
  // The UPN of the directory's user with this address: by userName, else by e-mail address. Kept a
  // minute per address (found or not): a mailbox's messages come from a few printers and people.
  const userNames = new Map<string, { userName: string | undefined; until: number }>();
  const findUserName = async (address: string): Promise<string | undefined> => {
    const key = address.toLowerCase();
    const kept = userNames.get(key);
    if (kept && kept.until > Date.now()) return kept.userName;
    const userName = await lookUpUserName(address);
    if (userNames.size > 10_000) userNames.clear();
    userNames.set(key, { userName, until: Date.now() + 60_000 });
    return userName;
  };
  const lookUpUserName = async (address: string): Promise<string | undefined> => {
    const byName = await storage.directory.users.findByUserName(address);
    if (byName) return byName.userName;
    const a = address.toLowerCase();
    const hits = await storage.directory.users.findByPrefix(address, 5);
    const exact = hits.filter((h) => h.by === 'mail' && userFacts(h.user).userEmail?.toLowerCase() === a);
    return exact.length === 1 ? exact[0]!.user.userName : undefined;
  };
  const publicBaseUrl = config.oauth.publicBaseUrl;
  const ingestDeps = (log: Logger): IngestDeps => ({
    scanBlobs: storage.scanBlobs,
    scanJobs: storage.scanJobs,
    jobIndex: storage.jobIndex,
    ingestLeases: storage.ingestLeases,
    deliveryQueue: storage.deliveryQueue,
    secrets,
    limits: config.scan.limits,
    leaseMs: config.scan.leaseMs,
    log,
  });
  const tryOutDeps = (log: Logger): TryOutDeps => ({ source: destinations, findUser, log });
  const sendTestDeps = (log: Logger): SendTestDeps => ({
    source: destinations,
    findUser,
    context: deliveryContext(log),
    auditLog: storage.auditLog,
    log,
  });

  const redeliverDeps = (log: Logger): RedeliverDeps => ({
    scanJobs: storage.scanJobs,
    deliveries: storage.deliveries,
    jobIndex: storage.jobIndex,
    attempts: storage.deliveryAttempts,
    deliveryQueue: storage.deliveryQueue,
    auditLog: storage.auditLog,
    destinations: () => destinations.current(log),
    findUser,
    log,
  });
  const jobsDeps = (): JobsDeps => ({
    scanJobs: storage.scanJobs,
    jobIndex: storage.jobIndex,
    ingestLeases: storage.ingestLeases,
    deliveries: storage.deliveries,
    attempts: storage.deliveryAttempts,
    scanBlobs: storage.scanBlobs,
    leaseMs: config.scan.leaseMs,
  });
  const notificationWorkerDeps = (log: Logger): WorkerDeps => ({
    channels: storage.notificationChannels,
    records: storage.notifications,
    queue: storage.notificationQueue,
    cipher,
    send: { connections: storage.connections, context: { ...deliveryContext(log), log } },
    log,
  });
  const notificationsDeps = (log: Logger): NotificationsDeps => ({
    channels: storage.notificationChannels,
    cipher,
    auditLog: storage.auditLog,
    records: storage.notifications,
    worker: notificationWorkerDeps(log),
    links,
  });
  const mailboxSourcesDeps = (): SourcesDeps => ({
    sources: storage.mailboxSources,
    state: storage.mailboxState,
    messages: storage.mailboxMessages,
    auditLog: storage.auditLog,
  });

  return {
    config,
    secrets,
    storage,
    ingestDeps: (log) => ({ ...ingestDeps(log), sharedSecretField: config.scan.sharedSecretField }),
    sweepDeps: (log) => ({
      ingestLeases: storage.ingestLeases,
      scanJobs: storage.scanJobs,
      jobIndex: storage.jobIndex,
      scanBlobs: storage.scanBlobs,
      leaseMs: config.scan.leaseMs,
      log,
    }),
    oauthDeps,
    accessDeps: () => accessDeps,
    signInDeps,
    consoleDeps: (log) => ({
      config,
      access: accessDeps,
      signIn: signInDeps(log),
      oauth: oauthDeps(log),
      storage,
      jobs: jobsDeps(),
      redeliver: redeliverDeps(log),
      destinations: {
        source: destinations,
        tryOut: tryOutDeps(log),
        sendTest: sendTestDeps(log),
        browse: { context: deliveryContext(log), log },
      },
      mailboxes: mailboxSourcesDeps(),
      notifications: notificationsDeps(log),
      log,
    }),
    destinations,
    delivererDeps: (log) => ({
      scanJobs: storage.scanJobs,
      scanBlobs: storage.scanBlobs,
      deliveries: storage.deliveries,
      jobIndex: storage.jobIndex,
      attempts: storage.deliveryAttempts,
      deliveryQueue: storage.deliveryQueue,
      destinations: () => destinations.current(log),
      ingestAlive: (jobId) => ingestAlive(storage.ingestLeases, jobId, config.scan.leaseMs),
      leaseMs: config.delivery.leaseMs,
      context: deliveryContext(log),
      findUser,
      pacer,
      log,
      notifier: notifier(log),
    }),
    redeliverDeps,
    jobsDeps,
    tryOutDeps,
    sendTestDeps,
    browseDeps: (log) => ({ context: deliveryContext(log), log }),
    scimDeps: (log) => ({ directory: storage.directory, secrets, config: config.directory, log, activity: scimActivity }),
    mailboxDeps: (log) => ({
      sources: storage.mailboxSources,
      state: storage.mailboxState,
      messages: storage.mailboxMessages,
      queue: storage.mailboxQueue,
      scanJobs: storage.scanJobs,
      // A mailbox's jobs are stored as scans are (no shared secret field: the mailbox is the sender's proof).
      ingest: ingestDeps(log),
      graphBaseUrl: config.delivery.graphBaseUrl,
      tokens: {
        delegated: async (connectionId, forceRefresh) => (await getAccessToken(oauthDeps(log), connectionId, { forceRefresh })).accessToken,
        application: (resource, forceRefresh) => oauthDeps(log).applicationTokens.get(resource, forceRefresh),
      },
      notificationUrls: publicBaseUrl
        ? { notifications: `${publicBaseUrl}/api/mailbox/notifications`, lifecycle: `${publicBaseUrl}/api/mailbox/lifecycle` }
        : undefined,
      findUserName,
      log,
    }),
    mailboxSourcesDeps,
    notifier,
    notificationWorkerDeps,
    notificationsDeps,
    notificationWatchDeps: (log) => ({
      oauth: config.oauth,
      secrets,
      directory: config.directory,
      activity: storage.directoryActivity,
      states: storage.notifications,
      records: storage.notifications,
      notifier: notifier(log),
    }),
    directorySyncDeps: (log) => createDirectorySyncDeps({ config, storage, applicationTokens: oauthDeps(log).applicationTokens, log }),
  };
}

let services: Services | undefined;

export function getServices(): Services {
  services ??= createServices(getConfig());
  return services;
}

/** Replaces the process's services (tests), or forgets them with `undefined`. */
export function setServices(replacement: Services | undefined): void {
  services = replacement;
}

export interface HealthReport {
  status: 'ok' | 'unhealthy';
  /** What stops the app from working, each naming the setting to fix when a setting is to fix (never a value). */
  problems: Array<{ setting?: string; message: string }>;
}

/**
 * The settings and the destinations: a bad one makes the app unhealthy with the reason (in
 * Azure, where the local host's refusal to start has no counterpart). The destinations are the
 * deliverer's: a deployed file that is invalid, or missing while it is needed (pinned, or not
 * imported yet), and a stored version this version of ScanRelay refuses; stored ones cost one
 * point read of Table Storage (the pointer row), which also reports storage that cannot be read.
 * Touches no secret.
 */
export async function checkHealth(log?: Logger): Promise<HealthReport> {
  try {
    const problems = await getServices().destinations.problems(log);
    return { status: problems.length ? 'unhealthy' : 'ok', problems };
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    return { status: 'unhealthy', problems: [{ setting: err.setting, message: err.message }] };
  }
}
