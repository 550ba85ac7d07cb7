/**
 * The one list of ScanRelay's functions. The Azure Functions host (host/azure.ts) and the
 * local host (host/local) both read it, so they can never disagree.
 */
import { audit } from '../functions/audit';
import { authorize } from '../functions/authorize';
import { authorizeCallback } from '../functions/authorizeCallback';
import { connection } from '../functions/connection';
import { connectionRefresh } from '../functions/connectionRefresh';
import { adminConsole } from '../functions/console';
import { connections } from '../functions/connections';
import { deliver } from '../functions/deliver';
import { deliverPoisoned } from '../functions/deliverPoisoned';
import { destination } from '../functions/destination';
import { destinationDisable } from '../functions/destinationDisable';
import { destinationEnable } from '../functions/destinationEnable';
import { destinationRestore } from '../functions/destinationRestore';
import { destinations } from '../functions/destinations';
import { destinationsBrowse } from '../functions/destinationsBrowse';
import { destinationsImport } from '../functions/destinationsImport';
import { destinationTest } from '../functions/destinationTest';
import { destinationVersion } from '../functions/destinationVersion';
import { destinationVersions } from '../functions/destinationVersions';
import { directory } from '../functions/directory';
import { directoryRecount } from '../functions/directoryRecount';
import { directoryUsers } from '../functions/directoryUsers';
import { directorySync } from '../functions/directorySync';
import { health } from '../functions/health';
import { job } from '../functions/job';
import { mailboxLifecycle } from '../functions/mailboxLifecycle';
import { mailboxNotifications } from '../functions/mailboxNotifications';
import { mailboxRead } from '../functions/mailboxRead';
import { mailboxSource } from '../functions/mailboxSource';
import { mailboxSources } from '../functions/mailboxSources';
import { mailboxSubscriptions } from '../functions/mailboxSubscriptions';
import { mailboxWork } from '../functions/mailboxWork';
import { jobFile } from '../functions/jobFile';
import { jobs } from '../functions/jobs';
import { notificationChannel } from '../functions/notificationChannel';
import { notificationChannels } from '../functions/notificationChannels';
import { notificationChannelTest } from '../functions/notificationChannelTest';
import { notifications } from '../functions/notifications';
import { notificationWatch } from '../functions/notificationWatch';
import { notify } from '../functions/notify';
import { overview } from '../functions/overview';
import { redeliver } from '../functions/redeliver';
import { refreshTokens } from '../functions/refreshTokens';
import { routingTest } from '../functions/routingTest';
import { scan } from '../functions/scan';
import { scanStatus } from '../functions/scanStatus';
import { scim } from '../functions/scim';
import { sweepIngests } from '../functions/sweepIngests';
import type { FunctionDefinition } from './definitions';

export const registry: readonly FunctionDefinition[] = [
  health,
  scan,
  sweepIngests,
  scanStatus,
  redeliver,
  jobs,
  job,
  jobFile,
  overview,
  deliver,
  deliverPoisoned,
  mailboxNotifications,
  mailboxLifecycle,
  mailboxWork,
  mailboxRead,
  mailboxSubscriptions,
  // mailboxes and mailboxes/{id}: no literal segment below mailboxes/ (an id is any word, none
  // reserved), and mailbox/notifications, mailbox/lifecycle start with another segment, so the
  // order of these routes (the Functions host's by function name, the local host's this one)
  // cannot hand a request to the wrong function.
  mailboxSources,
  mailboxSource,
  // notifications, notifications/channels, notifications/channels/{id} and .../{id}/test: each
  // has its own number of segments, so no order can hand a request to the wrong function.
  notify,
  notificationWatch,
  notifications,
  notificationChannels,
  notificationChannel,
  notificationChannelTest,
  // destinations/{id} before the literal routes it also matches (GET destinations/versions and
  // /browse): the local host takes the first route that matches, and the Functions host may too
  // (it orders routes by function name), so the tests go through destination's hand-over.
  destinations,
  destination,
  destinationVersions,
  destinationVersion,
  destinationRestore,
  destinationsImport,
  destinationsBrowse,
  destinationEnable,
  destinationDisable,
  destinationTest,
  routingTest,
  connections,
  connection,
  connectionRefresh,
  authorize,
  authorizeCallback,
  refreshTokens,
  directorySync,
  scim,
  audit,
  directory,
  directoryUsers,
  directoryRecount,
  adminConsole,
];
