/** What a console page is given: its dependencies, the request, who asks, and the page chrome. */
import type { AccessDeps, Caller, SignInDeps } from '../access';
import type { Config } from '../config';
import type { RedeliverDeps } from '../delivery';
import type { JobsDeps } from '../jobs';
import type { BrowseDeps, DestinationsSource, SendTestDeps, TryOutDeps } from '../destinations';
import type { Logger } from '../log';
import type { SourcesDeps } from '../mailbox';
import type { NotificationsDeps } from '../notifications';
import type { OAuthDeps } from '../oauth';
import type { Storage } from '../storage';
import type { Chrome, Flash, Section } from './layout';
import type { ConsoleRequest } from './response';

export interface ConsoleDeps {
  config: Config;
  access: AccessDeps;
  signIn: SignInDeps;
  oauth: OAuthDeps;
  storage: Storage;
  /** The Jobs pages' searches, details and files. */
  jobs: JobsDeps;
  /** Redeliver, from a job's page. */
  redeliver: RedeliverDeps;
  /** The destinations in force, test routing, test deliveries and browsing for a target. */
  destinations: { source: DestinationsSource; tryOut: TryOutDeps; sendTest: SendTestDeps; browse: BrowseDeps };
  /** The mailbox sources, as the JSON admin API manages them. */
  mailboxes: SourcesDeps;
  /** The notification channels, their tests and the recent events, as the JSON admin API manages them. */
  notifications: NotificationsDeps;
  log: Logger;
}

export interface PageContext {
  deps: ConsoleDeps;
  request: ConsoleRequest;
  caller: Caller;
  csrf: string;
  /** The caller holds ScanRelay.Admin: pages show the forms that change things. */
  canWrite: boolean;
  flash?: Flash;
  /** The posted form (POST requests). */
  form?: URLSearchParams;
  /** The route's parameters, decoded. */
  params: string[];
  /** The page chrome: the title, the section in the navigation, the flash message of this request. */
  chrome(title: string, section?: Section): Chrome;
}
