/**
 * The mailbox sources as administrators manage them (the JSON admin API and the console): list,
 * read, create, replace and delete, each validated as a whole (nothing invalid is saved), guarded
 * by the source's ETag (If-Match), and audited (who, when, before → after).
 */
import { audit, type Actor } from '../audit';
import { AppError, ValidationError } from '../errors';
import { etagMatches, parseIfMatch } from '../destinations/document';
import { optionIssues } from '../delivery/options';
import {
  CONFLICT,
  type AuditLogRepository,
  type MailboxMessageRecord,
  type MailboxMessageRepository,
  type MailboxSourceRepository,
  type MailboxStateRepository,
  type MailboxStatus,
  type MailboxSubscription,
  type StoredMailboxSource,
} from '../storage';
import { mailboxSourceSchema, SOURCE_ID, type MailboxSource } from './source';

export interface SourcesDeps {
  sources: MailboxSourceRepository;
  state: Pick<MailboxStateRepository, 'status' | 'subscriptions' | 'forget'>;
  messages: Pick<MailboxMessageRepository, 'latest'>;
  auditLog: Pick<AuditLogRepository, 'add'>;
}

/** A stored source as the deliverer of its work reads it: the options validated again (defaults of this version filled in). */
export function sourceOf(stored: StoredMailboxSource): MailboxSource | undefined {
  const parsed = mailboxSourceSchema.safeParse(stored.options);
  if (!parsed.success) return undefined;
  return { ...parsed.data, id: stored.id, updatedAt: stored.updatedAt, updatedBy: describe(stored.updatedBy), etag: stored.etag };
}

export interface SourceView {
  id: string;
  options: Record<string, unknown>;
  updatedAt: string;
  updatedBy: string;
  etag: string;
  status: { lastReadAt?: string; problem?: string; problemAt?: string; subscriptionExpiresAt?: string };
}

export interface SourceDetail extends SourceView {
  /** The latest messages it took in or rejected, newest first. */
  messages: Array<Omit<MailboxMessageRecord, 'sourceId' | 'receivedAt' | 'at'> & { receivedAt?: string; at: string }>;
}

function view(s: StoredMailboxSource, status: MailboxStatus, subs: MailboxSubscription[]): SourceView {
  const sub = subs.filter((x) => x.sourceId === s.id).sort((a, b) => b.expiresAt.getTime() - a.expiresAt.getTime())[0];
  return {
    id: s.id,
    options: s.options,
    updatedAt: s.updatedAt.toISOString(),
    updatedBy: describe(s.updatedBy),
    etag: s.etag,
    status: {
      lastReadAt: status.lastReadAt?.toISOString(),
      problem: status.problem,
      problemAt: status.problemAt?.toISOString(),
      subscriptionExpiresAt: sub?.expiresAt.toISOString(),
    },
  };
}

export async function listSources(deps: SourcesDeps): Promise<SourceView[]> {
  const [all, subs] = await Promise.all([deps.sources.list(), deps.state.subscriptions()]);
  const statuses = await Promise.all(all.map((s) => deps.state.status(s.id)));
  return all.map((s, i) => view(s, statuses[i]!, subs));
}

export async function getSource(deps: SourcesDeps, id: string, messageLimit = 50): Promise<SourceDetail> {
  const stored = await deps.sources.get(checkId(id));
  if (!stored) throw notFound(id);
  const [status, subs, messages] = await Promise.all([
    deps.state.status(id),
    deps.state.subscriptions(),
    deps.messages.latest(id, messageLimit),
  ]);
  return {
    ...view(stored, status, subs),
    messages: messages.map(({ sourceId: _s, receivedAt, at, ...m }) => ({
      ...m,
      receivedAt: receivedAt?.toISOString(),
      at: at.toISOString(),
    })),
  };
}

/** Creates a source from `{ id, ...options }`. */
export async function createSource(deps: SourcesDeps, actor: Actor, body: unknown): Promise<SourceView> {
  const { id, ...raw } = (body && typeof body === 'object' ? body : {}) as Record<string, unknown>;
  if (typeof id !== 'string' || !SOURCE_ID.test(id)) {
    throw new ValidationError('"id" must be 1 to 40 lowercase letters, digits and dashes.', [
      { path: 'id', message: 'must be 1 to 40 lowercase letters, digits and dashes' },
    ]);
  }
  const options = validate(raw);
  const written = await deps.sources.put(id, options, actor, undefined);
  if (written === CONFLICT)
    throw new AppError('mailbox_source_exists', `A mailbox source '${id}' exists already; change it with PUT /api/mailboxes/${id}.`);
  await audit(deps, actor, 'mailbox.create', `mailbox:${id}`, { after: options });
  return view(written, { sourceId: id }, []);
}

/** Replaces a source's options, if it is unchanged since `ifMatch` (`*`: whatever it is). */
export async function replaceSource(
  deps: SourcesDeps,
  actor: Actor,
  id: string,
  body: unknown,
  ifMatch: string | undefined,
): Promise<SourceView> {
  const current = await deps.sources.get(checkId(id));
  if (!current) throw notFound(id);
  const etag = expectEtag(current, id, ifMatch);
  const { id: bodyId, ...raw } = (body && typeof body === 'object' ? body : {}) as Record<string, unknown>;
  if (bodyId !== undefined && bodyId !== id) {
    throw new ValidationError(`"id" must be '${id}': a source cannot be renamed.`, [{ path: 'id', message: `must be '${id}'` }]);
  }
  const options = validate(raw);
  const written = await deps.sources.put(id, options, actor, etag);
  if (written === CONFLICT) throw changed(id);
  await audit(deps, actor, 'mailbox.update', `mailbox:${id}`, { before: current.options, after: options });
  return view(written, await deps.state.status(id), await deps.state.subscriptions());
}

/** Deletes a source (the subscription timer forgets its subscription, which Graph lets expire). */
export async function deleteSource(deps: SourcesDeps, actor: Actor, id: string, ifMatch: string | undefined): Promise<void> {
  const current = await deps.sources.get(checkId(id));
  if (!current) throw notFound(id);
  const deleted = await deps.sources.delete(id, expectEtag(current, id, ifMatch));
  if (deleted === CONFLICT) throw changed(id);
  if (!deleted) throw notFound(id);
  await deps.state.forget(id);
  await audit(deps, actor, 'mailbox.delete', `mailbox:${id}`, { before: current.options });
}

function validate(raw: unknown): Record<string, unknown> {
  const problems = optionIssues(mailboxSourceSchema, raw);
  if (problems.length) {
    throw new ValidationError(
      problems.map((p) => p.message).join(' '),
      problems.map((p) => ({ path: p.path.join('.'), message: p.problem })),
    );
  }
  return mailboxSourceSchema.parse(raw);
}

/** The current ETag, if `ifMatch` (the If-Match header) names it or is `*`; shared/destinations' parser of the header. */
function expectEtag(current: StoredMailboxSource, id: string, ifMatch: string | undefined): string {
  const tags = parseIfMatch(ifMatch);
  if (!tags)
    throw new AppError(
      'if_match_required',
      `Send If-Match with the ETag of mailbox source '${id}' (GET /api/mailboxes/${id}), or * to change it whatever it is now.`,
    );
  if (!etagMatches(tags, current.etag)) throw changed(id);
  return current.etag;
}

function checkId(id: string): string {
  if (!SOURCE_ID.test(id)) throw notFound(id);
  return id;
}

const notFound = (id: string) => new AppError('mailbox_source_not_found', `There is no mailbox source '${id.slice(0, 40)}'.`);
const changed = (id: string) =>
  new AppError(
    'mailbox_source_changed',
    `Mailbox source '${id}' was changed since you read it; read it again (GET /api/mailboxes/${id}) and send its new ETag.`,
  );

function describe(actor: Actor): string {
  return actor.kind === 'user' ? actor.upn : actor.kind === 'key' ? 'the admin key' : `ScanRelay (${actor.name})`;
}
