/**
 * What needs an administrator's attention, first: the Overview page and GET /api/overview read
 * the same list. Each item says what is wrong in words and where it is fixed (a console path).
 */
import { directoryAttention, type DirectoryStatusDeps } from '../directoryStatus';
import { jobsOverview, type JobsDeps, type JobsOverview, type JobSummary } from '../jobs';
import { listSources, type SourcesDeps } from '../mailbox';
import { clientSecretWarnings, listConnections, type OAuthDeps } from '../oauth';

export interface AttentionItem {
  severity: 'bad' | 'warn';
  /** What it is about: `connection`, `client-secret`, `job`, `mailbox`, `directory`. */
  kind: string;
  title: string;
  detail: string;
  /** Where it is fixed. */
  fix: { href: string; label: string };
  /** The things it is about, each with its page (the jobs that failed, say). */
  links?: Array<{ href: string; label: string }>;
}

export interface OverviewDeps {
  oauth: OAuthDeps;
  jobs: Pick<JobsDeps, 'jobIndex' | 'now'>;
  directory: DirectoryStatusDeps;
  mailboxes: SourcesDeps;
}

export interface Overview {
  /** What needs attention, the worst first. */
  attention: AttentionItem[];
  /** Today's jobs and latency, and the jobs of the last 24 hours that need attention. */
  jobs: JobsOverview;
}

/** Everything the Overview shows (the console page and GET /api/overview). */
export async function overview(deps: OverviewDeps, now = new Date()): Promise<Overview> {
  const [connections, jobs, directory, mailboxes] = await Promise.all([
    connectionAttention(deps, now),
    jobsOverview(deps.jobs),
    directoryAttentionItems(deps.directory, now),
    mailboxAttention(deps.mailboxes),
  ]);
  const attention = [...jobAttention(jobs), ...connections, ...mailboxes, ...directory];
  attention.sort((a, b) => (a.severity === b.severity ? 0 : a.severity === 'bad' ? -1 : 1));
  return { attention, jobs };
}

const CONSOLE = '/api/console';

/** Connections that must be authorized again or whose refreshes fail, and client secrets about to expire. */
export async function connectionAttention(deps: OverviewDeps, now = new Date()): Promise<AttentionItem[]> {
  const [connections, secrets] = await Promise.all([
    listConnections(deps.oauth),
    clientSecretWarnings(deps.oauth.config, deps.oauth.secrets, now),
  ]);
  const items: AttentionItem[] = [];
  for (const c of connections) {
    const fix = {
      href: `${CONSOLE}/connections/${encodeURIComponent(c.id)}`,
      label: c.state === 'authorized' ? 'Open the connection' : 'Authorize again',
    };
    if (c.state === 'reauthorization_required' || c.state === 'error') {
      items.push({
        severity: 'bad',
        kind: 'connection',
        title: `Connection '${c.displayName}' must be authorized again`,
        detail: c.lastError ?? 'Its authorization no longer works.',
        fix,
      });
    } else if (c.state === 'authorized' && c.consecutiveFailures > 0) {
      items.push({
        severity: 'warn',
        kind: 'connection',
        title: `Connection '${c.displayName}': ${c.consecutiveFailures} refresh failure(s) in a row`,
        detail: `${c.lastError ?? 'The identity platform did not answer.'} The tokens are kept; the timer tries again${c.nextRefreshAt ? ` at ${c.nextRefreshAt}` : ''}.`,
        fix,
      });
    }
  }
  for (const w of secrets) {
    items.push({
      severity: w.daysLeft < 7 ? 'bad' : 'warn',
      kind: 'client-secret',
      title: w.daysLeft < 0 ? `Client secret '${w.secret}' has expired` : `Client secret '${w.secret}' expires in ${w.daysLeft} day(s)`,
      detail: w.message,
      fix: { href: `${CONSOLE}/connections`, label: 'See the connections' },
    });
  }
  return items;
}

/** Enabled mailbox sources whose last reading (or subscription) failed: their messages wait in the mailbox. */
export async function mailboxAttention(deps: SourcesDeps): Promise<AttentionItem[]> {
  const sources = await listSources(deps);
  return sources
    .filter((s) => s.status.problem && s.options.enabled !== false)
    .map((s) => ({
      severity: 'bad' as const,
      kind: 'mailbox',
      title: `Mailbox source '${s.id}' has a problem reading ${String(s.options.mailbox)}`,
      detail: `${s.status.problem!} Its messages wait in the mailbox until it is fixed; then the next reading takes them in.`,
      fix: { href: `${CONSOLE}/mailboxes/${encodeURIComponent(s.id)}`, label: 'Open the mailbox source' },
    }));
}

/**
 * Directory provisioning problems of the last 24 hours (SCIM errors, failed or unfinished sync
 * runs; shared/directoryStatus directoryAttention), each linking to the Directory page. Its
 * notes (info) stay on that page.
 */
export async function directoryAttentionItems(deps: DirectoryStatusDeps, now = new Date()): Promise<AttentionItem[]> {
  const items = await directoryAttention({ ...deps, now: () => now }, new Date(now.getTime() - 86_400_000));
  return items
    .filter((i) => i.severity !== 'info')
    .map((i) => ({
      severity: i.severity === 'error' ? 'bad' : 'warn',
      kind: 'directory',
      title: i.title,
      detail: `${i.detail} ${i.fixHint}`,
      fix: { href: `${CONSOLE}/directory`, label: 'Open the Directory page' },
    }));
}

const jobHref = (jobId: string) => `${CONSOLE}/jobs/${encodeURIComponent(jobId)}`;
const jobsHref = (params: Record<string, string>) => `${CONSOLE}/jobs?${new URLSearchParams(params).toString()}`;

function jobLabel(j: JobSummary, what: string): string {
  const name = [j.workflowName, j.username].filter(Boolean).join(' · ');
  return `${name || j.jobId}${name ? ` (${j.jobId.slice(0, 8)})` : ''}: ${what}`;
}

/** Deliveries that failed for good and jobs whose message was poisoned, among the jobs of the last 24 hours. */
export function jobAttention(jobs: JobsOverview): AttentionItem[] {
  const items: AttentionItem[] = [];
  const { failedJobs, poisonedJobs, failedDeliveries, since } = jobs.last24h;
  if (failedJobs.count) {
    items.push({
      severity: 'bad',
      kind: 'job',
      title: `${failedDeliveries} delivery(ies) failed for good in the last 24 hours (${failedJobs.count} job(s))`,
      detail:
        'Each job says why. Fix the cause (a consent, a server, a rule), then open the job and Redeliver it.' +
        (failedJobs.count > failedJobs.jobs.length ? ` The newest ${failedJobs.jobs.length} are listed.` : ''),
      fix: { href: jobsHref({ status: 'failed,partially_failed', from: since }), label: 'See the failed jobs' },
      links: failedJobs.jobs.map((j) => ({
        href: jobHref(j.jobId),
        label: jobLabel(j, `failed${j.failedDestinations?.length ? ` at ${j.failedDestinations.join(', ')}` : ''}`),
      })),
    });
  }
  const poisoned = poisonedJobs.jobs.filter((j) => j.deliveryState !== 'delivered');
  if (poisoned.length) {
    items.push({
      severity: 'bad',
      kind: 'job',
      title: `${poisoned.length} poisoned job(s) in the last 24 hours`,
      detail:
        'Their delivery message went to the poison queue (every attempt failed, or the worker kept dying). Open the job to see each attempt, then Redeliver it.',
      fix: { href: jobsHref({ from: since }), label: 'See the recent jobs' },
      links: poisoned.map((j) => ({ href: jobHref(j.jobId), label: jobLabel(j, j.deliveryState ?? 'poisoned') })),
    });
  }
  return items;
}
