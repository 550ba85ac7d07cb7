/**
 * The notification channels as administrators manage them (the JSON admin API and the console):
 * list, read, create, replace, delete and test, each validated as a whole (nothing invalid is
 * saved), guarded by the channel's ETag (If-Match), and audited. A webhook URL is sealed with the
 * token cipher (shared/oauth/tokenCipher.ts: the envelope keys in Azure) before it is stored, and
 * only its host is ever shown again, in a view or the audit log.
 */
import { audit, describeActor, type Actor } from '../audit';
import { optionIssues } from '../delivery/options';
import { AppError, ValidationError } from '../errors';
import { etagMatches, parseIfMatch } from '../destinations/document';
import { CONFLICT, type AuditLogRepository, type NotificationChannelRepository, type StoredChannel } from '../storage';
import { CHANNEL_ID, channelSchema, type Channel, type ChannelOptions } from './channel';

export interface ChannelCipher {
  encrypt(plaintext: string, context: string): Promise<string>;
  decrypt(sealed: string, context: string): Promise<string>;
}

export interface ChannelsDeps {
  channels: NotificationChannelRepository;
  cipher: ChannelCipher;
  auditLog: Pick<AuditLogRepository, 'add'>;
}

export interface ChannelView {
  id: string;
  /** The options, the URL left out. */
  options: Record<string, unknown>;
  /** A webhook's host: all that is shown of its URL. */
  urlHost?: string;
  updatedAt: string;
  updatedBy: string;
  etag: string;
}

const sealContext = (id: string) => `notification-channel:${id}`;

function view(s: StoredChannel): ChannelView {
  const { urlHost, ...options } = s.options as Record<string, unknown> & { urlHost?: string };
  return {
    id: s.id,
    options,
    ...(typeof urlHost === 'string' ? { urlHost } : {}),
    updatedAt: s.updatedAt.toISOString(),
    updatedBy: describeActor(s.updatedBy),
    etag: s.etag,
  };
}

/** A stored channel as the sender reads it: the options validated again, the URL decrypted; undefined when invalid now. */
export async function channelOf(deps: Pick<ChannelsDeps, 'cipher'>, s: StoredChannel): Promise<(Channel & { url?: string }) | undefined> {
  const { urlHost: _h, ...options } = s.options;
  const url = s.urlSealed ? await deps.cipher.decrypt(s.urlSealed, sealContext(s.id)) : undefined;
  const parsed = channelSchema.safeParse(url ? { ...options, url } : options);
  if (!parsed.success) return undefined;
  return { id: s.id, options: parsed.data, etag: s.etag, ...(url ? { url } : {}) };
}

export async function listChannels(deps: ChannelsDeps): Promise<ChannelView[]> {
  return (await deps.channels.list()).map(view);
}

export async function getChannel(deps: ChannelsDeps, id: string): Promise<ChannelView> {
  const stored = await deps.channels.get(checkId(id));
  if (!stored) throw notFound(id);
  return view(stored);
}

/** Creates a channel from `{ id, ...options }`. */
export async function createChannel(deps: ChannelsDeps, actor: Actor, body: unknown): Promise<ChannelView> {
  const { id, ...raw } = objectOf(body);
  if (typeof id !== 'string' || !CHANNEL_ID.test(id)) {
    throw new ValidationError('"id" must be 1 to 40 lowercase letters, digits and dashes.', [
      { path: 'id', message: 'must be 1 to 40 lowercase letters, digits and dashes' },
    ]);
  }
  const options = validate(raw);
  const written = await deps.channels.put(id, await sealed(deps, id, options), actor, undefined);
  if (written === CONFLICT)
    throw new AppError(
      'channel_exists',
      `A notification channel '${id}' exists already; change it with PUT /api/notifications/channels/${id}.`,
    );
  const shown = view(written);
  await audit(deps, actor, 'notification.channel.create', `channel:${id}`, { after: { ...shown.options, urlHost: shown.urlHost } });
  return shown;
}

/** Replaces a channel's options, if unchanged since `ifMatch` (`*`: whatever it is); without `url`, a webhook keeps its URL. */
export async function replaceChannel(
  deps: ChannelsDeps,
  actor: Actor,
  id: string,
  body: unknown,
  ifMatch: string | undefined,
): Promise<ChannelView> {
  const current = await deps.channels.get(checkId(id));
  if (!current) throw notFound(id);
  const etag = expectEtag(current, id, ifMatch);
  const { id: bodyId, ...raw } = objectOf(body);
  if (bodyId !== undefined && bodyId !== id) {
    throw new ValidationError(`"id" must be '${id}': a channel cannot be renamed.`, [{ path: 'id', message: `must be '${id}'` }]);
  }
  const urlGiven = raw.url !== undefined && raw.url !== '';
  if (!urlGiven && current.urlSealed && raw.kind !== 'email') {
    raw.url = await deps.cipher.decrypt(current.urlSealed, sealContext(id));
  }
  const options = validate(raw);
  const written = await deps.channels.put(id, await sealed(deps, id, options), actor, etag);
  if (written === CONFLICT) throw changed(id);
  const before = view(current);
  const after = view(written);
  await audit(deps, actor, 'notification.channel.update', `channel:${id}`, {
    before: { ...before.options, urlHost: before.urlHost },
    after: { ...after.options, urlHost: after.urlHost, ...(urlGiven ? { urlSet: true } : {}) },
  });
  return after;
}

export async function deleteChannel(deps: ChannelsDeps, actor: Actor, id: string, ifMatch: string | undefined): Promise<void> {
  const current = await deps.channels.get(checkId(id));
  if (!current) throw notFound(id);
  const deleted = await deps.channels.delete(id, expectEtag(current, id, ifMatch));
  if (deleted === CONFLICT) throw changed(id);
  if (!deleted) throw notFound(id);
  const before = view(current);
  await audit(deps, actor, 'notification.channel.delete', `channel:${id}`, { before: { ...before.options, urlHost: before.urlHost } });
}

/** The channel as the sender needs it, or the not-found error (a test). */
export async function channelForTest(deps: ChannelsDeps, id: string): Promise<Channel & { url?: string }> {
  const stored = await deps.channels.get(checkId(id));
  if (!stored) throw notFound(id);
  const channel = await channelOf(deps, stored);
  if (!channel)
    throw new AppError('channel_invalid', `The channel '${id}' is not valid with this version of ScanRelay; set its options again.`);
  return channel;
}

async function sealed(deps: ChannelsDeps, id: string, options: ChannelOptions) {
  if (options.kind === 'email') return { options: { ...options } };
  const { url, ...rest } = options;
  return { options: { ...rest, urlHost: new URL(url).host }, urlSealed: await deps.cipher.encrypt(url, sealContext(id)) };
}

function objectOf(body: unknown): Record<string, unknown> {
  return body && typeof body === 'object' && !Array.isArray(body) ? { ...(body as Record<string, unknown>) } : {};
}

function validate(raw: unknown): ChannelOptions {
  const problems = optionIssues(channelSchema, raw);
  if (problems.length) {
    throw new ValidationError(
      problems.map((p) => p.message).join(' '),
      problems.map((p) => ({ path: p.path.join('.'), message: p.problem })),
    );
  }
  return channelSchema.parse(raw);
}

/** The current ETag, if `ifMatch` (the If-Match header) names it or is `*`; shared/destinations' parser of the header. */
function expectEtag(current: StoredChannel, id: string, ifMatch: string | undefined): string {
  const tags = parseIfMatch(ifMatch);
  if (!tags)
    throw new AppError(
      'if_match_required',
      `Send If-Match with the ETag of notification channel '${id}' (GET /api/notifications/channels/${id}), or * to change it whatever it is now.`,
    );
  if (!etagMatches(tags, current.etag)) throw changed(id);
  return current.etag;
}

function checkId(id: string): string {
  if (!CHANNEL_ID.test(id)) throw notFound(id);
  return id;
}

const notFound = (id: string) => new AppError('channel_not_found', `There is no notification channel '${id.slice(0, 40)}'.`);
const changed = (id: string) =>
  new AppError(
    'channel_changed',
    `Notification channel '${id}' was changed since you read it; read it again (GET /api/notifications/channels/${id}) and send its new ETag.`,
  );
