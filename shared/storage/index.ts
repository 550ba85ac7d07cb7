/**
 * Storage: small repositories over Azure Storage. Tables, containers and queues are created
 * on first use.
 */
import type { StorageConfig } from '../config';
import { AUDIT_LOG_TABLE, AuditLogRepository } from './auditLog';
import { AUTH_STATES_TABLE, AuthStateRepository } from './authStates';
import { StorageClients } from './clients';
import { CONNECTIONS_TABLE, ConnectionRepository } from './connections';
import { DELIVERIES_TABLE, DeliveryRepository } from './deliveries';
import { DELIVERY_ATTEMPTS_TABLE, DeliveryAttemptRepository } from './deliveryAttempts';
import { DELIVERY_QUEUE, DeliveryQueue } from './deliveryQueue';
import { DELTA_LINKS_TABLE, DeltaLinkRepository } from './deltaLinks';
import { DESTINATIONS_TABLE, DestinationVersionRepository } from './destinationVersions';
import { DIRECTORY_ACTIVITY_TABLE, DirectoryActivityRepository } from './directoryActivity';
import {
  createDirectory,
  DIRECTORY_COUNTS_TABLE,
  DIRECTORY_GROUPS_TABLE,
  DIRECTORY_INDEX_TABLE,
  DIRECTORY_MEMBERS_TABLE,
  DIRECTORY_USERS_TABLE,
  type Directory,
} from './directory';
import { INGEST_LEASES_TABLE, IngestLeaseRepository } from './ingestLeases';
import { JOB_INDEX_TABLE, JobIndexRepository } from './jobIndex';
import { MAILBOX_MESSAGES_TABLE, MailboxMessageRepository } from './mailboxMessages';
import { MAILBOX_QUEUE, MailboxQueue } from './mailboxQueue';
import { MAILBOX_SOURCES_TABLE, MailboxSourceRepository } from './mailboxSources';
import { MAILBOX_STATE_TABLE, MailboxStateRepository } from './mailboxState';
import { NOTIFICATION_CHANNELS_TABLE, NotificationChannelRepository } from './notificationChannels';
import { NOTIFICATION_QUEUE, NotificationQueue } from './notificationQueue';
import { NOTIFICATIONS_TABLE, NotificationRecordRepository } from './notificationRecords';
import { SCAN_CONTAINER, ScanBlobStore } from './scanBlobs';
import { SCAN_JOB_KEYS_TABLE, SCAN_JOBS_TABLE, ScanJobRepository } from './scanJobs';
import { TOKEN_CACHES_TABLE, TokenCacheRepository } from './tokenCaches';
import { TOKEN_KEYS_TABLE, TokenKeyRepository } from './tokenKeys';

export interface Storage {
  clients: StorageClients;
  scanBlobs: ScanBlobStore;
  scanJobs: ScanJobRepository;
  /** Stored and abandoned jobs by time, with their searchable fields and delivery state. */
  jobIndex: JobIndexRepository;
  /** Requests storing files: owner leases, and the ingest sweeper's work list. */
  ingestLeases: IngestLeaseRepository;
  deliveryQueue: DeliveryQueue;
  connections: ConnectionRepository;
  tokenCaches: TokenCacheRepository;
  /** The token data keys, wrapped by the Key Vault key (envelope encryption in Azure). */
  tokenKeys: TokenKeyRepository;
  authStates: AuthStateRepository;
  /** Every administrator action. */
  auditLog: AuditLogRepository;
  deliveries: DeliveryRepository;
  /** Every delivery attempt and what else happened to a (job, destination). */
  deliveryAttempts: DeliveryAttemptRepository;
  /** The destinations and every version of them (unless pinned to the file). */
  destinations: DestinationVersionRepository;
  /** Users and groups (SCIM or directory sync). */
  directory: Directory;
  /** The directory sync's delta links. */
  deltaLinks: DeltaLinkRepository;
  /** The last SCIM request and errors, the directory sync's runs. */
  directoryActivity: DirectoryActivityRepository;
  /** The mailboxes ScanRelay reads scan jobs from. */
  mailboxSources: MailboxSourceRepository;
  /** Their subscriptions, delta links and last reading. */
  mailboxState: MailboxStateRepository;
  /** What became of each message they took in. */
  mailboxMessages: MailboxMessageRepository;
  /** Messages to take in and folders to read. */
  mailboxQueue: MailboxQueue;
  /** Where administrators are told about events. */
  notificationChannels: NotificationChannelRepository;
  /** What became of each event notified. */
  notifications: NotificationRecordRepository;
  /** Events to send. */
  notificationQueue: NotificationQueue;
}

export function createStorage(config: StorageConfig): Storage {
  const clients = new StorageClients(config);
  return {
    clients,
    scanBlobs: new ScanBlobStore(clients.container(SCAN_CONTAINER)),
    scanJobs: new ScanJobRepository(clients.table(SCAN_JOBS_TABLE), clients.table(SCAN_JOB_KEYS_TABLE)),
    jobIndex: new JobIndexRepository(clients.table(JOB_INDEX_TABLE)),
    ingestLeases: new IngestLeaseRepository(clients.table(INGEST_LEASES_TABLE)),
    deliveryQueue: new DeliveryQueue(clients.queue(DELIVERY_QUEUE)),
    connections: new ConnectionRepository(clients.table(CONNECTIONS_TABLE)),
    tokenCaches: new TokenCacheRepository(clients.table(TOKEN_CACHES_TABLE)),
    tokenKeys: new TokenKeyRepository(clients.table(TOKEN_KEYS_TABLE)),
    authStates: new AuthStateRepository(clients.table(AUTH_STATES_TABLE)),
    auditLog: new AuditLogRepository(clients.table(AUDIT_LOG_TABLE)),
    deliveries: new DeliveryRepository(clients.table(DELIVERIES_TABLE)),
    deliveryAttempts: new DeliveryAttemptRepository(clients.table(DELIVERY_ATTEMPTS_TABLE)),
    destinations: new DestinationVersionRepository(clients.table(DESTINATIONS_TABLE)),
    directory: createDirectory({
      users: clients.table(DIRECTORY_USERS_TABLE),
      groups: clients.table(DIRECTORY_GROUPS_TABLE),
      index: clients.table(DIRECTORY_INDEX_TABLE),
      members: clients.table(DIRECTORY_MEMBERS_TABLE),
      counts: clients.table(DIRECTORY_COUNTS_TABLE),
    }),
    deltaLinks: new DeltaLinkRepository(clients.table(DELTA_LINKS_TABLE)),
    directoryActivity: new DirectoryActivityRepository(clients.table(DIRECTORY_ACTIVITY_TABLE)),
    mailboxSources: new MailboxSourceRepository(clients.table(MAILBOX_SOURCES_TABLE)),
    mailboxState: new MailboxStateRepository(clients.table(MAILBOX_STATE_TABLE)),
    mailboxMessages: new MailboxMessageRepository(clients.table(MAILBOX_MESSAGES_TABLE)),
    mailboxQueue: new MailboxQueue(clients.queue(MAILBOX_QUEUE)),
    notificationChannels: new NotificationChannelRepository(clients.table(NOTIFICATION_CHANNELS_TABLE)),
    notifications: new NotificationRecordRepository(clients.table(NOTIFICATIONS_TABLE)),
    notificationQueue: new NotificationQueue(clients.queue(NOTIFICATION_QUEUE)),
  };
}

export * from './auditLog';
export * from './authStates';
export * from './clients';
export { packText, unpackText } from './chunks';
export * from './conditionalWrite';
export * from './connections';
export * from './deliveries';
export * from './deliveryAttempts';
export * from './deltaLinks';
export * from './destinationVersions';
export * from './directory';
export * from './directoryActivity';
export * from './ingestLeases';
export * from './jobIndex';
export * from './mailboxMessages';
export * from './mailboxQueue';
export * from './notificationChannels';
export * from './notificationQueue';
export * from './notificationRecords';
export * from './mailboxSources';
export * from './mailboxState';
export * from './tokenCaches';
export * from './tokenKeys';
export * from './deliveryQueue';
export * from './scanBlobs';
export * from './scanJobs';
