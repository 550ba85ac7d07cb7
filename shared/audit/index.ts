/**
 * The audit log: every administrator action (who, when, what, before → after), recorded by the
 * shared operations that make the change, whichever way they were asked for (the console or the
 * JSON admin API with the admin key). Searching it is for the console's Audit page.
 */
import type { Actor, AuditEntry, AuditLogRepository } from '../storage';

export type { Actor, AuditEntry } from '../storage';

export interface AuditDeps {
  auditLog: Pick<AuditLogRepository, 'add'>;
  now?: () => Date;
}

/** Records one action. The caller passes what an administrator may see: never a secret or a token. */
export async function audit(
  deps: AuditDeps,
  actor: Actor,
  action: string,
  target: string,
  change: { before?: unknown; after?: unknown } = {},
): Promise<void> {
  await deps.auditLog.add({ at: deps.now?.() ?? new Date(), actor, action, target, ...change });
}

/** An actor in words: `jdoe@contoso.com`, `the admin key`, `ScanRelay (<what>)`. */
export function describeActor(actor: Actor): string {
  if (actor.kind === 'user') return actor.upn;
  if (actor.kind === 'key') return 'the admin key';
  return `ScanRelay (${actor.name})`;
}

/** Entries whose actor, action or target contains `text` (case-insensitive). */
export function searchAudit(entries: readonly AuditEntry[], text: string): AuditEntry[] {
  const t = text.trim().toLowerCase();
  if (!t) return [...entries];
  return entries.filter((e) => [describeActor(e.actor), e.action, e.target].some((s) => s.toLowerCase().includes(t)));
}

export interface AuditQuery {
  from: Date;
  to: Date;
  /** Text the actor, action or target contains. */
  text?: string;
  /** At most this many entries (newest first); 200 when left out. */
  limit?: number;
}

/** The longest period one query covers (the log is read day by day). */
export const AUDIT_MAX_DAYS = 92;

/** Entries of a period, newest first, optionally those matching a text: the Audit page and GET /api/audit. */
export async function findAudit(deps: { auditLog: Pick<AuditLogRepository, 'list'> }, query: AuditQuery): Promise<AuditEntry[]> {
  const limit = Math.min(Math.max(query.limit ?? 200, 1), 1000);
  const from = new Date(Math.max(query.from.getTime(), query.to.getTime() - AUDIT_MAX_DAYS * 86_400_000));
  // Reading stops early once enough entries match: a search reads up to 20 times the page size.
  const entries = await deps.auditLog.list(from, query.to, query.text?.trim() ? limit * 20 : limit);
  return searchAudit(entries, query.text ?? '').slice(0, limit);
}
