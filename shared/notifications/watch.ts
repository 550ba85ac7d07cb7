/**
 * The notification timer: raises the events that come from reading state on a schedule, each
 * once per change of state, and deletes the records past their retention.
 *
 * - A client secret's expiry (its Key Vault `expires` attribute, shared/oauth/secretExpiry.ts):
 *   once at 30 days left, once at 7, once at 1, once expired.
 * - The directory sync: failing when its last three finished runs failed, recovered when a run
 *   completes after that (DIRECTORY_SOURCE=sync).
 * - SCIM provisioning: failing when five or more requests in the last hour were answered 401,
 *   403 or 5xx (the provisioning service's token, or ScanRelay itself; 400, 404 and 409 are the
 *   protocol's ordinary answers) and the last request failed too; recovered once a request succeeds
 *   again (DIRECTORY_SOURCE=scim).
 *
 * The failing/recovered state of the directory is kept in the `notifications` table (PK `state`),
 * changed with its ETag: of two timers only one raises the change.
 */
import type { DirectoryConfig, OAuthConfig } from '../config';
import { clientSecretWarnings } from '../oauth/secretExpiry';
import type { SecretStore } from '../secrets';
import { CONFLICT, type DirectoryActivityRepository, type NotificationRecordRepository, type WatchedStates } from '../storage';
import { events, type NotificationEvent } from './events';
import type { Notifier } from './index';

export interface WatchDeps {
  oauth: OAuthConfig;
  secrets: Pick<SecretStore, 'expiresOn'>;
  directory: DirectoryConfig;
  activity: Pick<DirectoryActivityRepository, 'lastScimRequest' | 'scimErrors' | 'syncRuns'>;
  states: WatchedStates;
  records: Pick<NotificationRecordRepository, 'deleteOlderThan'>;
  notifier: Notifier;
  /** Records are kept this long (default 30 days). */
  retentionDays?: number;
  now?: () => Date;
}

const THRESHOLDS = [1, 7, 30] as const;
const FAILED_RUNS = 3;
const SCIM_FAILURES = 5;
const HOUR_MS = 3600_000;

export async function runNotificationWatch(deps: WatchDeps): Promise<{ raised: number; deleted: number }> {
  const now = deps.now?.() ?? new Date();
  const raised: NotificationEvent[] = [];
  for (const w of await clientSecretWarnings(deps.oauth, deps.secrets, now)) {
    const threshold = w.daysLeft < 0 ? 0 : (THRESHOLDS.find((t) => w.daysLeft < t) ?? 30);
    raised.push(events.credentialExpiring(w.secret, new Date(w.expiresOn), threshold, w.message, deps.notifier.links.connections()));
  }
  if (deps.directory.source === 'sync') raised.push(...(await watchSync(deps, now)));
  if (deps.directory.source === 'scim') raised.push(...(await watchScim(deps, now)));
  for (const e of raised) await deps.notifier.notify(e);
  const deleted = await deps.records.deleteOlderThan(new Date(now.getTime() - (deps.retentionDays ?? 30) * 86_400_000));
  return { raised: raised.length, deleted };
}

async function watchSync(deps: WatchDeps, now: Date): Promise<NotificationEvent[]> {
  const finished = (await deps.activity.syncRuns())
    .filter((r) => r.status !== 'running')
    .sort((a, b) => b.startedAt.getTime() - a.startedAt.getTime());
  if (finished.length === 0) return [];
  const streak = finished.findIndex((r) => r.status !== 'failed');
  const failedInARow = streak === -1 ? finished.length : streak;
  const last = finished[0]!;
  const link = deps.notifier.links.directory();
  return change(deps, 'directory.sync', now, {
    failing: failedInARow >= FAILED_RUNS,
    recovered: last.status === 'completed',
    failingEvent: (since) => events.directoryFailing('sync', since, last.error?.message ?? 'the run failed.', failedInARow, link),
    recoveredEvent: (since) => events.directoryRecovered('sync', since, link),
  });
}

async function watchScim(deps: WatchDeps, now: Date): Promise<NotificationEvent[]> {
  const [errors, lastRequest] = await Promise.all([deps.activity.scimErrors(), deps.activity.lastScimRequest()]);
  const serious = errors.filter(
    (e) => (e.status === 401 || e.status === 403 || e.status >= 500) && now.getTime() - e.lastAt.getTime() < HOUR_MS,
  );
  const count = serious.reduce((n, e) => n + e.count, 0);
  const lastFailed = lastRequest !== undefined && lastRequest.status >= 400;
  const latest = serious.sort((a, b) => b.lastAt.getTime() - a.lastAt.getTime())[0];
  const link = deps.notifier.links.directory();
  return change(deps, 'directory.scim', now, {
    failing: count >= SCIM_FAILURES && lastFailed,
    recovered: lastRequest !== undefined && lastRequest.status < 400,
    failingEvent: (since) =>
      events.directoryFailing('scim', since, `the last was answered ${latest?.status}: ${latest?.detail ?? ''}`, count, link),
    recoveredEvent: (since) => events.directoryRecovered('scim', since, link),
  });
}

/** Moves a watched condition to failing or back, and says what to raise for the change (nothing without one). */
async function change(
  deps: WatchDeps,
  id: string,
  now: Date,
  c: {
    failing: boolean;
    recovered: boolean;
    failingEvent: (since: Date) => NotificationEvent;
    recoveredEvent: (since: Date) => NotificationEvent;
  },
): Promise<NotificationEvent[]> {
  const state = await deps.states.state(id);
  const wasFailing = state?.failing ?? false;
  if (c.failing && !wasFailing) {
    const written = await deps.states.putState(id, { failing: true, since: now }, state?.etag);
    return written === CONFLICT ? [] : [c.failingEvent(now)];
  }
  if (wasFailing && c.recovered && state) {
    const written = await deps.states.putState(id, { failing: false, since: now }, state.etag);
    return written === CONFLICT ? [] : [c.recoveredEvent(state.since)];
  }
  return [];
}
