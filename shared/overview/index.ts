/**
 * What needs an administrator's attention, first: the Overview page and GET /api/overview read
 * the same list. Each item says what is wrong in words and where it is fixed (a console path).
 */
import { directoryAttention, type DirectoryStatusDeps } from '../directoryStatus';
import { clientSecretWarnings, listConnections, type OAuthDeps } from '../oauth';

export interface AttentionItem {
  severity: 'bad' | 'warn';
  /** What it is about: `connection`, `client-secret`, `job`, `directory`. */
  kind: string;
  title: string;
  detail: string;
  /** Where it is fixed. */
  fix: { href: string; label: string };
}

export interface OverviewDeps {
  oauth: OAuthDeps;
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
