/**
 * One sync run: its dependencies, its counts, and what it learns on the way (the users in scope,
 * the stored sync users) that the users step hands to the groups step.
 */
import type { DirectoryConfig } from '../config';
import type { GraphClient } from '../graph';
import type { Logger } from '../log';
import type {
  DeltaLinkRepository,
  DirectoryActivityRepository,
  DirectoryGroups,
  DirectoryMembers,
  DirectoryUsers,
  StoredUser,
} from '../storage';
import { EntraReader } from './reader';

export interface DirectorySyncDeps {
  config: DirectoryConfig;
  graph: GraphClient;
  users: Pick<DirectoryUsers, 'create' | 'get' | 'replace' | 'list' | 'findByUserName'>;
  groups: Pick<DirectoryGroups, 'create' | 'get' | 'replace' | 'delete' | 'list'>;
  members: Pick<DirectoryMembers, 'add' | 'remove' | 'list' | 'removeAllOf' | 'removeMember'>;
  deltaLinks: Pick<DeltaLinkRepository, 'get' | 'save' | 'remove' | 'list'>;
  /** Where each run is recorded for the console's Directory page. */
  runs: Pick<DirectoryActivityRepository, 'saveSyncRun'>;
  log: Logger;
  /** Store writes in flight (default 8). */
  concurrency?: number;
}

export interface DirectorySyncCounts {
  /** Users in the configured group (transitively). */
  inScope: number;
  users: { created: number; updated: number; deactivated: number; unchanged: number; fetched: number; conflicts: number };
  groups: { created: number; updated: number; deleted: number };
  members: { added: number; removed: number };
  /** Which rounds read everything (first run, expired token) rather than changes. */
  fullRound: { users: boolean; groups: boolean };
}

/** Collections are read 999 objects a page, the most Graph gives for directory objects. */
export const PAGE = '$top=999';

export interface SyncRun {
  readonly deps: DirectorySyncDeps;
  readonly reader: EntraReader;
  /** Store writes in flight. */
  readonly limit: number;
  readonly counts: DirectorySyncCounts;
  /** Stored sync users by Entra object id. */
  readonly users: Map<string, StoredUser>;
  /** Users this run stored for the first time (their existing memberships are read). */
  readonly newUsers: Set<string>;
  /** The Entra object ids of the users in scope. */
  scope: Set<string>;
}

export function newRun(deps: DirectorySyncDeps): SyncRun {
  return {
    deps,
    reader: new EntraReader(deps.graph),
    limit: deps.concurrency ?? 8,
    counts: {
      inScope: 0,
      users: { created: 0, updated: 0, deactivated: 0, unchanged: 0, fetched: 0, conflicts: 0 },
      groups: { created: 0, updated: 0, deleted: 0 },
      members: { added: 0, removed: 0 },
      fullRound: { users: false, groups: false },
    },
    users: new Map(),
    newUsers: new Set(),
    scope: new Set(),
  };
}
