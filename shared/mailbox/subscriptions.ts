/**
 * Change-notification subscriptions, one per enabled source: new messages in its folder
 * (https://learn.microsoft.com/graph/change-notifications-delivery-webhooks). The timer creates
 * the missing ones and renews those that expire within a day (an Outlook message subscription
 * lives at most 10,080 minutes; ScanRelay asks for three days), and removes those of sources
 * deleted, disabled or pointed at another folder. Lifecycle notifications
 * (https://learn.microsoft.com/graph/change-notifications-lifecycle-events) arrive as queue work:
 * `reauthorizationRequired` renews (which reauthorizes), `subscriptionRemoved` subscribes again
 * and reads the folder, `missed` reads the folder.
 *
 * Each subscription gets its own clientState, 32 random bytes sent to Graph once: only its
 * SHA-256 is stored (shared/storage/mailboxState.ts), and a notification whose clientState does
 * not hash to it is ignored.
 */
import { createHash, randomBytes } from 'node:crypto';
import { describeError } from '../log';
import type { LifecycleEvent, MailboxSubscription } from '../storage';
import { mailboxGraphOf, type MailboxGraph } from './graph';
import type { MailboxDeps } from './index';
import { noteProblem, readSource } from './read';
import type { MailboxSource } from './source';
import { sourceOf } from './sources';

export const SUBSCRIPTION_LIFETIME_MS = 3 * 24 * 3_600_000;
export const RENEW_WITHIN_MS = 24 * 3_600_000;

export interface SubscriptionRun {
  created: number;
  renewed: number;
  removed: number;
  failed: number;
  /** No public URL is configured: the backstop reads alone. */
  skipped?: boolean;
}

export function clientStateHash(clientState: string): string {
  return createHash('sha256').update(clientState, 'utf8').digest('hex');
}

export async function keepSubscriptions(deps: MailboxDeps, now = new Date()): Promise<SubscriptionRun> {
  const run: SubscriptionRun = { created: 0, renewed: 0, removed: 0, failed: 0 };
  if (!deps.notificationUrls) return { ...run, skipped: true };
  const [stored, subs] = await Promise.all([deps.sources.list(), deps.state.subscriptions()]);
  const sources = new Map(stored.map((s) => [s.id, sourceOf(s)]));
  // Subscriptions of sources that are gone: Graph lets them expire, their notifications are ignored.
  for (const sub of subs) {
    if (!sources.get(sub.sourceId)) {
      await deps.state.removeSubscription(sub.subscriptionId);
      run.removed++;
    }
  }
  for (const source of sources.values()) {
    if (!source) continue;
    try {
      await keepSource(
        source,
        subs.filter((s) => s.sourceId === source.id),
        deps,
        now,
        run,
      );
    } catch (err) {
      run.failed++;
      deps.log.warn('mailbox: keeping the subscription failed; the backstop still reads the folder', {
        source: source.id,
        ...describeError(err),
      });
      await noteProblem(source.id, new Error(`Change notifications: ${(err as Error)?.message ?? String(err)}`), deps);
    }
  }
  if (run.created || run.renewed || run.removed || run.failed) deps.log.info('mailbox: subscriptions kept', { ...run });
  return run;
}

async function keepSource(
  source: MailboxSource,
  subs: MailboxSubscription[],
  deps: MailboxDeps,
  now: Date,
  run: SubscriptionRun,
): Promise<void> {
  const graph = mailboxGraphOf(source, deps);
  const folderId = source.enabled ? await graph.folderId(source.folder) : undefined;
  const resource = folderId ? graph.folderResource(folderId) : undefined;
  const newest = subs.filter((s) => s.resource === resource).sort((a, b) => b.expiresAt.getTime() - a.expiresAt.getTime())[0];
  for (const sub of subs) {
    if (sub === newest) continue;
    await graph.unsubscribe(sub.subscriptionId).catch((err: unknown) => {
      deps.log.warn('mailbox: deleting an old subscription failed; it expires by itself', { source: source.id, ...describeError(err) });
    });
    await deps.state.removeSubscription(sub.subscriptionId);
    run.removed++;
  }
  if (!folderId) {
    if (source.enabled) throw new Error(`The folder '${source.folder}' does not exist in ${source.mailbox}.`);
    return;
  }
  if (newest && newest.expiresAt.getTime() - now.getTime() > RENEW_WITHIN_MS) return;
  if (newest && (await renew(graph, newest, deps, now))) {
    run.renewed++;
    return;
  }
  if (newest) await deps.state.removeSubscription(newest.subscriptionId);
  await subscribe(source, graph, folderId, deps, now);
  run.created++;
}

async function renew(graph: MailboxGraph, sub: MailboxSubscription, deps: MailboxDeps, now: Date): Promise<boolean> {
  const expiresAt = new Date(now.getTime() + SUBSCRIPTION_LIFETIME_MS);
  if (!(await graph.renew(sub.subscriptionId, expiresAt))) return false;
  await deps.state.saveSubscription({ ...sub, expiresAt });
  return true;
}

/** Creates the source's subscription (Graph validates the notification URLs before it answers). */
export async function subscribe(
  source: MailboxSource,
  graph: MailboxGraph,
  folderId: string,
  deps: MailboxDeps,
  now = new Date(),
): Promise<void> {
  const urls = deps.notificationUrls!;
  const clientState = randomBytes(32).toString('base64url');
  const resource = graph.folderResource(folderId);
  const created = await graph.subscribe({
    resource,
    notificationUrl: urls.notifications,
    lifecycleNotificationUrl: urls.lifecycle,
    clientState,
    expirationDateTime: new Date(now.getTime() + SUBSCRIPTION_LIFETIME_MS),
  });
  await deps.state.saveSubscription({
    subscriptionId: created.id,
    sourceId: source.id,
    resource,
    expiresAt: new Date(created.expirationDateTime),
    clientStateHash: clientStateHash(clientState),
    createdAt: now,
  });
  deps.log.info('mailbox: subscribed to new messages', { source: source.id, expiresAt: created.expirationDateTime });
}

/** Acts on a lifecycle notification whose clientState was checked. */
export async function handleLifecycleEvent(
  source: MailboxSource,
  subscriptionId: string,
  event: LifecycleEvent,
  deps: MailboxDeps,
): Promise<void> {
  deps.log.info('mailbox: lifecycle notification', { source: source.id, event });
  if (event === 'missed') {
    await readSource(source, deps);
    return;
  }
  const graph = mailboxGraphOf(source, deps);
  const sub = await deps.state.subscription(subscriptionId);
  if (event === 'reauthorizationRequired' && sub && (await renew(graph, sub, deps, new Date()))) return;
  // Removed (or gone while it needed reauthorizing): subscribe again, and read what was missed meanwhile.
  if (sub) await deps.state.removeSubscription(subscriptionId);
  const folderId = await graph.folderId(source.folder);
  if (folderId && deps.notificationUrls) await subscribe(source, graph, folderId, deps);
  await readSource(source, deps);
}
