/**
 * One mailbox through Microsoft Graph, as mailbox ingest uses it: folders, messages, attachments
 * streamed from `$value`, move and delete, the folder's delta query and change-notification
 * subscriptions. Every path is `/users/{mailbox}/...`, which serves a delegated connection to its
 * own mailbox as well as application access.
 *
 * - Immutable ids (https://learn.microsoft.com/graph/outlook-immutable-id): every request says
 *   `Prefer: IdType="ImmutableId"`, so a message keeps its id when it is moved (a notification or
 *   delta item names the same message the worker later moves), and subscriptions created with it
 *   notify with immutable ids.
 * - At most 4 requests in flight per mailbox in this process (Outlook allows 4 concurrent requests
 *   per app and mailbox, https://learn.microsoft.com/graph/throttling-limits#outlook-service-limits);
 *   a streamed attachment holds its slot until it is read or dropped. 429 and Retry-After are the
 *   Graph client's (shared/graph).
 */
import { Readable } from 'node:stream';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import type { Semaphore } from '../concurrency';
import { ConfigError } from '../errors';
import { GraphClient, GraphError, odataString, type GraphRequest } from '../graph';
import { mailboxSlots } from '../graph/mailboxSlots';
import type { MailboxSource } from './source';

export { MAILBOX_CONCURRENCY } from '../graph/mailboxSlots';

const IMMUTABLE = 'IdType="ImmutableId"';

/** Well-known folder names (https://learn.microsoft.com/graph/api/resources/mailfolder), by their English display names too. */
const WELL_KNOWN: Readonly<Record<string, string>> = {
  inbox: 'inbox',
  drafts: 'drafts',
  sentitems: 'sentitems',
  'sent items': 'sentitems',
  deleteditems: 'deleteditems',
  'deleted items': 'deleteditems',
  junkemail: 'junkemail',
  'junk email': 'junkemail',
  archive: 'archive',
};

export interface MessageInfo {
  id: string;
  internetMessageId: string;
  subject: string;
  from?: { name: string; address: string };
  receivedDateTime?: string;
  parentFolderId: string;
}

export interface AttachmentInfo {
  id: string;
  kind: 'file' | 'item' | 'reference';
  name: string;
  contentType: string;
  size: number;
  isInline: boolean;
}

export interface DeltaPage {
  /** Ids of messages added or changed; removed ones are left out. */
  ids: string[];
  nextLink?: string;
  deltaLink?: string;
}

export interface SubscriptionInfo {
  id: string;
  expirationDateTime: string;
}

interface GraphMessage {
  id: string;
  internetMessageId?: unknown;
  subject?: unknown;
  from?: { emailAddress?: { name?: unknown; address?: unknown } };
  receivedDateTime?: unknown;
  parentFolderId?: unknown;
}

interface GraphAttachment {
  '@odata.type'?: unknown;
  id: string;
  name?: unknown;
  contentType?: unknown;
  size?: unknown;
  isInline?: unknown;
}

export class MailboxGraph {
  private readonly slots: Semaphore;
  private readonly base: string;
  /** Folder path (lower case) → id, for this process: folders are looked up or created once. */
  private static readonly folders = new Map<string, string>();

  constructor(
    private readonly client: GraphClient,
    readonly mailbox: string,
  ) {
    this.slots = mailboxSlots(mailbox);
    this.base = `/users/${encodeURIComponent(mailbox)}`;
  }

  /** A request to this mailbox in one of its slots; the answer's body is read (or dropped) inside it. */
  private async call<T>(path: string, req: GraphRequest, read: (res: Response) => Promise<T>): Promise<T> {
    await this.slots.take();
    try {
      const res = await this.client.request(path.startsWith('http') ? path : `${this.base}${path}`, {
        ...req,
        headers: { prefer: IMMUTABLE, ...req.headers },
      });
      return await read(res);
    } finally {
      this.slots.give();
    }
  }

  private json<T>(path: string, req: GraphRequest = {}): Promise<T> {
    return this.call(path, req, async (res) => (await res.json()) as T);
  }

  // ---- folders

  /** The id of a folder path (`Inbox`, `Inbox/Scans`, `ScanRelay/Processed`); undefined when a part is missing, unless `create`. */
  async folderId(path: string, create = false): Promise<string | undefined> {
    const cacheKey = `${this.mailbox.toLowerCase()}\n${path.toLowerCase()}`;
    const cached = MailboxGraph.folders.get(cacheKey);
    if (cached) return cached;
    let parent: string | undefined;
    for (const [i, name] of path.split('/').entries()) {
      const known = i === 0 ? WELL_KNOWN[name.toLowerCase()] : undefined;
      parent = known ? await this.wellKnown(known) : await this.child(parent, name, create);
      if (!parent) return undefined;
    }
    MailboxGraph.folders.set(cacheKey, parent!);
    return parent;
  }

  /** Forgets a folder path's id (the folder was deleted or recreated). */
  forgetFolder(path: string): void {
    MailboxGraph.folders.delete(`${this.mailbox.toLowerCase()}\n${path.toLowerCase()}`);
  }

  private async wellKnown(name: string): Promise<string> {
    return (await this.json<{ id: string }>(`/mailFolders/${name}?$select=id`)).id;
  }

  private async child(parent: string | undefined, name: string, create: boolean): Promise<string | undefined> {
    const list = parent ? `/mailFolders/${encodeURIComponent(parent)}/childFolders` : '/mailFolders';
    const find = async () => {
      const q = `$filter=${encodeURIComponent(`displayName eq ${odataString(name)}`)}&$select=id,displayName`;
      const page = await this.json<{ value?: Array<{ id: string }> }>(`${list}?${q}`);
      return page.value?.[0]?.id;
    };
    const found = await find();
    if (found || !create) return found;
    try {
      return (await this.json<{ id: string }>(list, { method: 'POST', json: { displayName: name } })).id;
    } catch (err) {
      // Created meanwhile by another worker.
      if (err instanceof GraphError && err.status === 409) return find();
      throw err;
    }
  }

  // ---- messages

  /** A message, or undefined when it is gone from this mailbox. */
  async message(id: string): Promise<MessageInfo | undefined> {
    const select = 'id,internetMessageId,subject,from,receivedDateTime,parentFolderId';
    const m = await this.call(`/messages/${encodeURIComponent(id)}?$select=${select}`, { accept: [404] }, async (res) => {
      if (res.status !== 404) return (await res.json()) as GraphMessage;
      await res.body?.cancel();
      return undefined;
    });
    if (!m) return undefined;
    const from = m.from?.emailAddress;
    const str = (v: unknown) => (typeof v === 'string' ? v : '');
    return {
      id: m.id,
      internetMessageId: str(m.internetMessageId) || `<${m.id}@graph>`,
      subject: str(m.subject),
      from: from && str(from.address) ? { name: str(from.name), address: str(from.address) } : undefined,
      receivedDateTime: str(m.receivedDateTime) || undefined,
      parentFolderId: str(m.parentFolderId),
    };
  }

  /** The message's attachments, without their contents. */
  async attachments(messageId: string): Promise<AttachmentInfo[]> {
    const out: AttachmentInfo[] = [];
    let next: string | undefined = `/messages/${encodeURIComponent(messageId)}/attachments?$select=id,name,contentType,size,isInline`;
    while (next) {
      const page: { value?: GraphAttachment[]; '@odata.nextLink'?: string } = await this.json(next);
      for (const a of page.value ?? []) {
        const type = (typeof a['@odata.type'] === 'string' ? a['@odata.type'] : '').toLowerCase();
        out.push({
          id: String(a.id),
          kind: type.endsWith('itemattachment') ? 'item' : type.endsWith('fileattachment') ? 'file' : 'reference',
          name: typeof a.name === 'string' ? a.name : '',
          contentType: typeof a.contentType === 'string' && a.contentType ? a.contentType : 'application/octet-stream',
          size: typeof a.size === 'number' && Number.isFinite(a.size) ? a.size : 0,
          isInline: a.isInline === true,
        });
      }
      next = page['@odata.nextLink'];
    }
    return out;
  }

  /**
   * An attachment's raw bytes (a file's contents, an attached message's MIME), streamed from
   * `$value`: its slot is held until the stream ends or is destroyed.
   */
  async openAttachment(messageId: string, attachmentId: string, signal?: AbortSignal): Promise<Readable> {
    await this.slots.take();
    let given = false;
    const give = () => {
      if (!given) this.slots.give();
      given = true;
    };
    try {
      const res = await this.client.request(
        `${this.base}/messages/${encodeURIComponent(messageId)}/attachments/${encodeURIComponent(attachmentId)}/$value`,
        { headers: { prefer: IMMUTABLE } },
      );
      if (!res.body) throw new Error('Microsoft Graph answered an attachment with no body.');
      const stream = Readable.fromWeb(res.body as WebReadableStream<Uint8Array>, { signal });
      stream.on('close', give);
      return stream;
    } catch (err) {
      give();
      throw err;
    }
  }

  /** Moves a message into a folder (an id or a well-known name); false when the message is gone. */
  async move(messageId: string, destinationId: string): Promise<boolean> {
    return this.call(
      `/messages/${encodeURIComponent(messageId)}/move`,
      { method: 'POST', json: { destinationId }, accept: [404] },
      async (res) => {
        await res.body?.cancel();
        return res.status !== 404;
      },
    );
  }

  /** Deletes a message for good (https://learn.microsoft.com/graph/api/message-permanentdelete); false when it was gone. */
  async deletePermanently(messageId: string): Promise<boolean> {
    return this.call(`/messages/${encodeURIComponent(messageId)}/permanentDelete`, { method: 'POST', accept: [404] }, async (res) => {
      await res.body?.cancel();
      return res.status !== 404;
    });
  }

  // ---- delta (https://learn.microsoft.com/graph/api/message-delta)

  /** One page of the folder's delta query: from the start (`link` undefined), a nextLink or a deltaLink. */
  async delta(folderId: string, link: string | undefined): Promise<DeltaPage> {
    const url = link ?? `/mailFolders/${encodeURIComponent(folderId)}/messages/delta?$select=id`;
    const page = await this.json<{ value?: Array<Record<string, unknown>>; '@odata.nextLink'?: string; '@odata.deltaLink'?: string }>(url, {
      headers: { prefer: `${IMMUTABLE}, odata.maxpagesize=50` },
    });
    return {
      ids: (page.value ?? []).filter((m) => !('@removed' in m) && typeof m.id === 'string').map((m) => m.id as string),
      nextLink: page['@odata.nextLink'],
      deltaLink: page['@odata.deltaLink'],
    };
  }

  // ---- subscriptions (https://learn.microsoft.com/graph/api/subscription-post-subscriptions)

  /** The subscription resource for new messages in a folder. */
  folderResource(folderId: string): string {
    return `users/${this.mailbox}/mailFolders/${folderId}/messages`;
  }

  async subscribe(s: {
    resource: string;
    notificationUrl: string;
    lifecycleNotificationUrl: string;
    clientState: string;
    expirationDateTime: Date;
  }): Promise<SubscriptionInfo> {
    // Not a mailbox request: no mailbox slot. Graph validates both URLs before it answers.
    const res = await this.client.request('/subscriptions', {
      method: 'POST',
      headers: { prefer: IMMUTABLE },
      json: { changeType: 'created', ...s, expirationDateTime: s.expirationDateTime.toISOString() },
    });
    return (await res.json()) as SubscriptionInfo;
  }

  /** Extends a subscription; false when Graph no longer has it. */
  async renew(subscriptionId: string, expirationDateTime: Date): Promise<boolean> {
    const res = await this.client.request(`/subscriptions/${encodeURIComponent(subscriptionId)}`, {
      method: 'PATCH',
      json: { expirationDateTime: expirationDateTime.toISOString() },
      accept: [404],
    });
    await res.body?.cancel();
    return res.status !== 404;
  }

  /** https://learn.microsoft.com/graph/api/subscription-reauthorize; false when Graph no longer has it. */
  async reauthorize(subscriptionId: string): Promise<boolean> {
    const res = await this.client.request(`/subscriptions/${encodeURIComponent(subscriptionId)}/reauthorize`, {
      method: 'POST',
      accept: [404],
    });
    await res.body?.cancel();
    return res.status !== 404;
  }

  async unsubscribe(subscriptionId: string): Promise<void> {
    const res = await this.client.request(`/subscriptions/${encodeURIComponent(subscriptionId)}`, { method: 'DELETE', accept: [404] });
    await res.body?.cancel();
  }
}

/** How a source reaches Graph: its base URL, and tokens (a connection's delegated token, or the app's own). */
export interface MailboxAccess {
  graphBaseUrl: string;
  tokens: {
    delegated(connectionId: string, forceRefresh: boolean): Promise<string>;
    application(resource: string, forceRefresh: boolean): Promise<string>;
  };
}

/** The source's mailbox through Graph, with the source's access. */
export function mailboxGraphOf(source: MailboxSource, access: MailboxAccess): MailboxGraph {
  const resource = new URL(access.graphBaseUrl).origin;
  const client = new GraphClient({
    baseUrl: access.graphBaseUrl,
    token: async (forceRefresh) => {
      if (source.access === 'application') return access.tokens.application(resource, forceRefresh);
      if (!source.connectionId) throw new ConfigError('connectionId', `is missing for mailbox source '${source.id}'.`);
      return access.tokens.delegated(source.connectionId, forceRefresh);
    },
  });
  return new MailboxGraph(client, source.mailbox);
}
