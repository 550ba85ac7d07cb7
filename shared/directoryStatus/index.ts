/**
 * The directory as an administrator looks at it (the console's Directory page, the Overview's
 * problems, and `GET /api/directory`): what it holds, where it comes from, how filling it went.
 *
 * - directoryOverview: counts of users and groups (kept counters, shared/storage/directoryCounts.ts:
 *   one small query however large the directory), the source (DIRECTORY_SOURCE), the last SCIM
 *   request and errors, the last directory sync runs (shared/storage/directoryActivity.ts, recorded
 *   by shared/scim/activity.ts and shared/directorySync/record.ts).
 * - findDirectoryUser: a user by userName (the directory's index, as delivery looks users up),
 *   externalId or id, or by the start of a userName or e-mail address, with the fields delivery fills from them (shared/delivery/userFacts.ts).
 * - directoryAttention: the period's problems (SCIM errors, failed sync runs...), each with what
 *   to do.
 * - recountDirectory: counts every row again and sets the counters from it.
 *
 * "Directory" stays the store (shared/storage/directory.ts); this is its status, read-only but for
 * the recount.
 */
import { audit, type Actor, type AuditDeps } from '../audit';
import type { DirectoryConfig } from '../config';
import { deliveryFacts, userFacts, type UserFacts } from '../delivery/userFacts';
import { AppError, BadRequestError } from '../errors';
import {
  isKeySafe,
  SCIM_ERRORS_KEPT,
  type Directory,
  type DirectoryActivityRepository,
  type DirectorySource,
  type DirectoryTally,
  type ScimErrorRecord,
  type StoredUser,
  type SyncRunRecord,
} from '../storage';

export interface DirectoryStatusDeps {
  config: DirectoryConfig;
  directory: Pick<Directory, 'users' | 'groups' | 'members' | 'counts'>;
  activity: Pick<DirectoryActivityRepository, 'lastScimRequest' | 'scimErrors' | 'syncRuns'>;
  now?: () => Date;
}

/** The deps from the app's configuration and storage (the admin API, the console, the Overview). */
export function directoryStatusDeps(
  config: { directory: DirectoryConfig },
  storage: { directory: Directory; directoryActivity: DirectoryActivityRepository; auditLog: AuditDeps['auditLog'] },
): DirectoryStatusDeps & AuditDeps {
  return { config: config.directory, directory: storage.directory, activity: storage.directoryActivity, auditLog: storage.auditLog };
}

// --- Overview ------------------------------------------------------------------------------

export interface DirectoryCountsView {
  users: { total: number; active: number; inactive: number; bySource: Record<DirectorySource, number> };
  groups: { total: number; bySource: Record<DirectorySource, number> };
  /** False when users or groups were stored before counting began and no recount has included them yet. */
  complete: boolean;
  /** When a recount last set the counts. */
  recountedAt?: string;
}

export interface ScimRequestView {
  at: string;
  method: string;
  resource: string;
  /** The path below /scim/v2 (only SCIM query parameters keep their values). */
  path: string;
  status: number;
}

export interface ScimErrorView {
  /** When it first and last happened, `count` times in a row. */
  at: string;
  lastAt: string;
  count: number;
  method: string;
  /** The path below /scim/v2 (only SCIM query parameters keep their values). */
  path: string;
  status: number;
  scimType?: string;
  /** The detail ScanRelay answered. */
  detail: string;
}

/** `unfinished`: recorded as running, but longer ago than a run can last (the process died, or it timed out). */
export type SyncRunState = SyncRunRecord['status'] | 'unfinished';

export interface SyncRunView {
  id: string;
  startedAt: string;
  finishedAt?: string;
  status: SyncRunState;
  durationMs?: number;
  /** What the run did (users created, updated..., groups, members, full rounds). */
  counts?: unknown;
  error?: { code: string; message: string };
  reason?: string;
  retryAfterSeconds?: number;
}

export interface DirectoryOverview {
  /** Where users and groups come from (DIRECTORY_SOURCE). */
  source: DirectorySource;
  counts: DirectoryCountsView;
  scim: {
    /** The last request recorded (written at most every few seconds per instance; errors always). */
    lastRequest?: ScimRequestView;
    /** The last errors, newest first. */
    errors: ScimErrorView[];
  };
  sync: {
    schedule: string;
    groupId?: string;
    groupPrefix?: string;
    /** The last runs, newest first. */
    runs: SyncRunView[];
  };
}

/**
 * A run still `running` this long after it started did not finish: the function timeout
 * (host.json functionTimeout, 10 minutes) and some leeway.
 */
export const RUN_LIMIT_MS = 15 * 60_000;

/** What the directory's status is read from: one read of each record. */
interface DirectoryFacts {
  now: Date;
  tally: DirectoryTally;
  lastRequest: Awaited<ReturnType<DirectoryStatusDeps['activity']['lastScimRequest']>>;
  errors: readonly ScimErrorRecord[];
  runs: Awaited<ReturnType<DirectoryStatusDeps['activity']['syncRuns']>>;
}

async function readFacts(deps: DirectoryStatusDeps): Promise<DirectoryFacts> {
  const now = deps.now?.() ?? new Date();
  const [tally, lastRequest, errors, runs] = await Promise.all([
    deps.directory.counts.read(),
    deps.activity.lastScimRequest(),
    deps.activity.scimErrors(),
    deps.activity.syncRuns(),
  ]);
  return { now, tally, lastRequest, errors, runs };
}

export async function directoryOverview(deps: DirectoryStatusDeps): Promise<DirectoryOverview> {
  return overviewOf(deps, await readFacts(deps));
}

/** The problems of the period since `since`: SCIM errors, failed or unfinished sync runs, and a source that is not set up. */
export async function directoryAttention(deps: DirectoryStatusDeps, since: Date): Promise<AttentionItem[]> {
  return attentionOf(deps, await readFacts(deps), since);
}

/** Both, from one read (the Directory page). */
export async function directoryStatus(
  deps: DirectoryStatusDeps,
  since: Date,
): Promise<{ overview: DirectoryOverview; attention: AttentionItem[] }> {
  const facts = await readFacts(deps);
  return { overview: overviewOf(deps, facts), attention: attentionOf(deps, facts, since) };
}

function overviewOf(deps: DirectoryStatusDeps, { now, tally, lastRequest, errors, runs }: DirectoryFacts): DirectoryOverview {
  const { sync } = deps.config;
  return {
    source: deps.config.source,
    counts: countsView(tally),
    scim: {
      ...(lastRequest ? { lastRequest: { ...lastRequest, at: lastRequest.at.toISOString() } } : {}),
      errors: errors.map(errorView),
    },
    sync: {
      schedule: sync.schedule,
      ...(sync.groupId ? { groupId: sync.groupId } : {}),
      ...(sync.groupPrefix ? { groupPrefix: sync.groupPrefix } : {}),
      runs: runs.map((r) => runView(r, now)),
    },
  };
}

function countsView(t: DirectoryTally): DirectoryCountsView {
  return {
    users: {
      total: t.users.total,
      active: t.users.active,
      inactive: t.users.total - t.users.active,
      bySource: { scim: t.users.scim, sync: t.users.sync },
    },
    groups: { total: t.groups.total, bySource: { scim: t.groups.scim, sync: t.groups.sync } },
    complete: t.complete,
    ...(t.recountedAt ? { recountedAt: t.recountedAt.toISOString() } : {}),
  };
}

const errorView = (e: ScimErrorRecord): ScimErrorView => ({ ...e, at: e.at.toISOString(), lastAt: e.lastAt.toISOString() });

function runView(r: SyncRunRecord, now: Date): SyncRunView {
  const status: SyncRunState = r.status === 'running' && now.getTime() - r.startedAt.getTime() > RUN_LIMIT_MS ? 'unfinished' : r.status;
  const { finishedAt: _finishedAt, ...rest } = r;
  return {
    ...rest,
    status,
    startedAt: r.startedAt.toISOString(),
    ...(r.finishedAt ? { finishedAt: r.finishedAt.toISOString(), durationMs: r.finishedAt.getTime() - r.startedAt.getTime() } : {}),
  };
}

// --- Find a user ---------------------------------------------------------------------------

export const FIND_MAX_LENGTH = 256;
/** externalId is not unique: at most this many users are shown for one value. */
const FIND_MAX_USERS = 20;
/** Groups shown per user. */
const GROUPS_SHOWN = 50;

/** userName exact (any letter case), externalId, id, or a userName / e-mail address that starts with the value. */
export type UserMatch = 'userName' | 'externalId' | 'id' | 'userNamePrefix' | 'mailPrefix';

export interface FoundUser {
  id: string;
  userName: string;
  externalId?: string;
  displayName?: string;
  active: boolean;
  source: DirectorySource;
  created: string;
  lastModified: string;
  /** What `find` matched. */
  matchedBy: UserMatch[];
  /** The groups the user is a member of (directly), at most 50. */
  groups: Array<{ id: string; displayName: string }>;
  /**
   * What delivery fills into a job whose `username` is this userName (any letter case), where the
   * job lacks the field: `fields` is what the user has; an inactive user fills nothing.
   */
  delivery: { fills: boolean; fields: UserFacts; note?: string };
}

export interface FoundUsers {
  find: string;
  users: FoundUser[];
}

/**
 * The users a value names: as userName (unique, any letter case: the index delivery uses), as
 * externalId (exact), as id, and (two characters or more) the users whose userName (the UPN, from
 * Entra) or an e-mail address starts with it, any letter case. At most 20; nothing found is an
 * empty list, not an error.
 */
export async function findDirectoryUser(deps: DirectoryStatusDeps, query: string | null | undefined): Promise<FoundUsers> {
  const find = checkFind(query);
  const { users } = deps.directory;
  const [byUserName, byExternalId, byId, byPrefix] = await Promise.all([
    users.findByUserName(find),
    users.findByExternalId(find),
    isKeySafe(find) ? users.get(find) : Promise.resolve(undefined),
    find.length >= 2 ? users.findByPrefix(find, FIND_MAX_USERS) : Promise.resolve([]),
  ]);
  const found = new Map<string, { user: StoredUser; matchedBy: UserMatch[] }>();
  const note = (user: StoredUser | undefined, how: UserMatch) => {
    if (!user) return;
    const entry = found.get(user.id) ?? { user, matchedBy: [] };
    entry.matchedBy.push(how);
    found.set(user.id, entry);
  };
  note(byUserName, 'userName');
  for (const u of byExternalId) note(u, 'externalId');
  note(byId, 'id');
  for (const { user, by } of byPrefix) {
    if (by === 'userName' && found.get(user.id)?.matchedBy.includes('userName')) continue;
    note(user, by === 'userName' ? 'userNamePrefix' : 'mailPrefix');
  }
  const shown = [...found.values()].slice(0, FIND_MAX_USERS);
  return { find, users: await Promise.all(shown.map(({ user, matchedBy }) => foundUser(deps, user, matchedBy))) };
}

function checkFind(query: string | null | undefined): string {
  const find = (query ?? '').trim();

  if (!find || find.length > FIND_MAX_LENGTH || /[\u0000-\u001f\u007f-\u009f]/.test(find)) {
    throw new BadRequestError(
      'invalid_find',
      `"find" must be a userName, e-mail address (or the start of one), externalId or id of 1 to ${FIND_MAX_LENGTH} characters, without control characters.`,
    );
  }
  return find;
}

async function foundUser(deps: DirectoryStatusDeps, user: StoredUser, matchedBy: UserMatch[]): Promise<FoundUser> {
  const groupIds = (await deps.directory.members.groupsOf(user.id)).slice(0, GROUPS_SHOWN);
  const groups = await Promise.all(groupIds.map((id) => deps.directory.groups.get(id)));
  const displayName = user.resource.displayName;
  const fills = deliveryFacts(user) !== undefined;
  return {
    id: user.id,
    userName: user.userName,
    ...(user.externalId !== undefined ? { externalId: user.externalId } : {}),
    ...(typeof displayName === 'string' ? { displayName } : {}),
    active: user.active,
    source: user.source,
    created: user.created.toISOString(),
    lastModified: user.lastModified.toISOString(),
    matchedBy,
    groups: groups.filter((g) => g !== undefined).map((g) => ({ id: g.id, displayName: g.displayName })),
    delivery: {
      fills,
      fields: userFacts(user),
      ...(fills ? {} : { note: 'The user is inactive (disabled or unassigned in Entra ID): delivery fills nothing from it.' }),
    },
  };
}

// --- Attention -----------------------------------------------------------------------------

export type Severity = 'error' | 'warning' | 'info';

/** A problem for the Overview page: what it is, the facts, and what to do about it. */
export interface AttentionItem {
  severity: Severity;
  title: string;
  detail: string;
  fixHint: string;
  /** When it last happened (absent for a state rather than an event). */
  at?: string;
}

function attentionOf(deps: DirectoryStatusDeps, { now, tally, lastRequest, errors, runs }: DirectoryFacts, since: Date): AttentionItem[] {
  const items = [...scimAttention(errors, since), ...syncAttention(runs, since, now)];
  if (deps.config.source === 'scim' && !lastRequest) {
    items.push({
      severity: 'info',
      title: 'Entra ID has not sent a SCIM request yet',
      detail: 'DIRECTORY_SOURCE is scim, and no SCIM request has reached ScanRelay.',
      fixHint:
        'Set up provisioning in an enterprise application with the tenant URL <app>/api/scim/v2 and the secret token scim-bearer-token, then Test Connection (docs/provisioning.md).',
    });
  }
  if (deps.config.source === 'sync' && !runs.some((r) => r.startedAt >= since)) {
    const last = runs[0];
    items.push({
      severity: last ? 'warning' : 'info',
      title: last ? 'Directory sync has not run in this period' : 'Directory sync has not run yet',
      detail: last ? `The last run started at ${last.startedAt.toISOString()}.` : 'DIRECTORY_SOURCE is sync, and no run is recorded.',
      fixHint: `The timer runs on DIRECTORY_SYNC_SCHEDULE (${deps.config.sync.schedule}); check that the function app is running.`,
    });
  }
  if (!tally.complete) {
    items.push({
      severity: 'info',
      title: 'User and group counts may be too low',
      detail: 'Users or groups were stored before ScanRelay began counting them, and no recount has included them yet.',
      fixHint: 'Recount the directory (POST /api/directory/recount); it reads every user and group once.',
    });
  }
  const rank: Record<Severity, number> = { error: 0, warning: 1, info: 2 };
  return items.sort((a, b) => rank[a.severity] - rank[b.severity] || (b.at ?? '').localeCompare(a.at ?? ''));
}

interface Problem {
  severity: Severity;
  title: string;
  fixHint: string;
}

/** What SCIM errors of a status mean for an administrator, and what fixes them: by status, else by class. */
const SCIM_PROBLEMS: Readonly<Record<string, Problem>> = {
  '401': {
    severity: 'error',
    title: "Entra ID's SCIM requests are refused: the secret token is wrong",
    fixHint:
      "In the enterprise application (Provisioning → Admin Credentials), enter the secret scim-bearer-token's value as Secret Token, Test Connection and Save. While rotating, the old token belongs in scim-bearer-token-previous (docs/provisioning.md).",
  },
  '403': {
    severity: 'error',
    title: 'Entra ID sends SCIM requests, but SCIM is turned off (DIRECTORY_SOURCE=sync)',
    fixHint: 'Use one source: set DIRECTORY_SOURCE=scim, or turn provisioning off in the enterprise application.',
  },
  '409': {
    severity: 'warning',
    title: 'Users or groups were not provisioned: a userName or group name is taken',
    fixHint:
      'A userName, and the name of a group from SCIM, must be unique in any letter case. Find the user that holds it (Directory: find a user): often one from directory sync, or one deleted and created again in Entra ID. Delete the stale one or fix the mapping, then Provision on demand.',
  },
  '404': {
    severity: 'info',
    title: 'SCIM requests named users or groups ScanRelay does not have',
    fixHint:
      'Usually harmless (Entra ID changing an object deleted here); it matches the object again by userName or name. If it repeats, restart provisioning in the enterprise application.',
  },
  '412': {
    severity: 'info',
    title: 'SCIM changes lost a race with another change (If-Match)',
    fixHint: 'None: Entra ID reads the object again and retries.',
  },
  '413': {
    severity: 'warning',
    title: 'SCIM requests were too large',
    fixHint: "ScanRelay takes SCIM bodies of up to 1 MiB, and Entra ID's are a few KiB: find what sends larger ones.",
  },
  '5xx': {
    severity: 'error',
    title: 'ScanRelay failed to answer SCIM requests',
    fixHint:
      'Look the invocation id of the detail up in the log (Application Insights, function scim). Entra ID retries the objects that failed.',
  },
  '4xx': {
    severity: 'warning',
    title: 'Entra ID sent SCIM requests that ScanRelay refused',
    fixHint:
      'The detail names the attribute or value. Fix the attribute mappings in the enterprise application (remove mappings to attributes ScanRelay does not know; GET /api/scim/v2/Schemas lists those it knows), then Provision on demand.',
  },
};

function scimProblem(status: number): { key: string } & Problem {
  const key = String(status) in SCIM_PROBLEMS ? String(status) : status >= 500 ? '5xx' : '4xx';
  return { key, ...SCIM_PROBLEMS[key]! };
}

function scimAttention(errors: readonly ScimErrorRecord[], since: Date): AttentionItem[] {
  const groups = new Map<string, { problem: Problem; count: number; last: ScimErrorRecord }>();
  for (const e of errors) {
    if (e.lastAt < since) continue;
    const problem = scimProblem(e.status);
    const group = groups.get(problem.key);
    // Runs of identical errors are kept with their first and last time: count those of the period.
    const count = e.at >= since ? e.count : 1;
    if (group) group.count += count;
    else groups.set(problem.key, { problem, count, last: e });
  }
  // Only the last SCIM_ERRORS_KEPT errors are kept: when the oldest kept is in the period, there may have been more.
  const more = errors.length >= SCIM_ERRORS_KEPT && errors[errors.length - 1]!.at >= since;
  return [...groups.values()].map(({ problem, count, last }) => ({
    severity: problem.severity,
    title: problem.title,
    detail:
      `${more ? 'At least ' : ''}${count} SCIM ${count === 1 ? 'request' : 'requests'} since ${since.toISOString()}; the last: ` +
      `${last.method} ${last.path} answered ${last.status}${last.scimType ? ` ${last.scimType}` : ''}: ${last.detail}`,
    fixHint: problem.fixHint,
    at: last.lastAt.toISOString(),
  }));
}

/** What a failed run's code means, and what fixes it (codes of shared/directorySync/errors.ts). */
function syncProblem(code: string): Problem {
  switch (code) {
    case 'forbidden':
      return {
        severity: 'error',
        title: 'Directory sync lacks its permissions in Microsoft Graph',
        fixHint:
          'Grant the app registration the application permissions User.Read.All and GroupMember.Read.All, with admin consent (npm run app-registration requests them; docs/permissions.md).',
      };
    case 'unauthorized':
    case 'token':
      return {
        severity: 'error',
        title: 'Directory sync cannot sign in to Microsoft Graph',
        fixHint:
          "Check OAUTH_CLIENT_ID, OAUTH_TENANT (the tenant's ID or domain, not organizations) and the secret oauth-client-secret (expired?).",
      };
    case 'group_not_found':
      return {
        severity: 'error',
        title: "Directory sync's group does not exist",
        fixHint: 'Set DIRECTORY_SYNC_GROUP_ID to the object ID of an existing group (Entra admin center → Groups).',
      };
    case 'graph':
      return {
        severity: 'error',
        title: 'Microsoft Graph refused the directory sync',
        fixHint: "The message quotes Graph's answer; fix what it names. The next run starts again from the last complete round.",
      };
    default:
      return {
        severity: 'error',
        title: 'Directory sync failed unexpectedly',
        fixHint: 'The log has the details (Application Insights, function directorySync); the next run tries again.',
      };
  }
}

function syncAttention(runs: readonly SyncRunRecord[], since: Date, now: Date): AttentionItem[] {
  const inPeriod = runs.filter((r) => r.startedAt >= since);
  const lastCompleted = runs.find((r) => r.status === 'completed');
  const items: AttentionItem[] = [];
  const failed = new Map<string, SyncRunRecord[]>();
  for (const r of inPeriod.filter((r) => r.status === 'failed')) {
    const code = r.error?.code ?? 'internal';
    failed.set(code, [...(failed.get(code) ?? []), r]);
  }
  for (const [code, list] of failed) {
    const last = list[0]!; // runs are newest first
    const problem = syncProblem(code);
    const resolved = lastCompleted !== undefined && lastCompleted.startedAt > last.startedAt;
    items.push({
      severity: resolved ? 'info' : problem.severity,
      title: resolved ? `${problem.title} (a later run completed)` : problem.title,
      detail: `${list.length} failed ${list.length === 1 ? 'run' : 'runs'} since ${since.toISOString()}; the last, at ${last.startedAt.toISOString()}: ${last.error?.message ?? 'no reason recorded'}`,
      fixHint: problem.fixHint,
      at: (last.finishedAt ?? last.startedAt).toISOString(),
    });
  }
  const unfinished = inPeriod.filter((r) => r.status === 'running' && now.getTime() - r.startedAt.getTime() > RUN_LIMIT_MS);
  if (unfinished.length > 0) {
    items.push({
      severity: 'warning',
      title: 'Directory sync runs stopped without finishing',
      detail: `${unfinished.length} ${unfinished.length === 1 ? 'run' : 'runs'} since ${since.toISOString()}, the last started at ${unfinished[0]!.startedAt.toISOString()}.`,
      fixHint:
        'The instance restarted, or the run passed the function timeout (10 minutes, host.json functionTimeout); the next run resumes from the stored delta links. If it keeps happening, look in the log.',
      at: unfinished[0]!.startedAt.toISOString(),
    });
  }
  const interrupted = inPeriod.filter((r) => r.status === 'interrupted');
  if (interrupted.length > 0) {
    items.push({
      severity: 'info',
      title: 'Microsoft Graph throttled the directory sync',
      detail: `${interrupted.length} ${interrupted.length === 1 ? 'run' : 'runs'} stopped early since ${since.toISOString()}; the last: ${interrupted[0]!.reason ?? ''}`,
      fixHint: 'None: the next run carries on from where it stopped.',
      at: (interrupted[0]!.finishedAt ?? interrupted[0]!.startedAt).toISOString(),
    });
  }
  return items;
}

// --- Recount -------------------------------------------------------------------------------

/**
 * Counts every user and group (a keys-only read of both tables: seconds at 100,000 users) and
 * sets the counters from it; audited. 409 directory_busy when the directory kept changing while
 * it was counted.
 */
export async function recountDirectory(deps: DirectoryStatusDeps & AuditDeps, actor: Actor): Promise<DirectoryCountsView> {
  const before = countsView(await deps.directory.counts.read());
  const done = await deps.directory.counts.recount(deps.now?.() ?? new Date());
  if (!done.users || !done.groups) {
    throw new AppError(
      'directory_busy',
      `The ${!done.users ? 'users' : 'groups'} kept changing while they were counted (provisioning or a sync run is writing). Try again when it is quiet.`,
      60,
    );
  }
  const after = countsView(await deps.directory.counts.read());
  await audit(deps, actor, 'directory.recount', 'directory', { before, after });
  return after;
}
