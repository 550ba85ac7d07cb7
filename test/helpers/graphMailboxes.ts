/**
 * Outlook mailboxes for the local Microsoft Graph server (graphServer.ts mounts this module): mail
 * folders, messages with attachments, sendMail and drafts, move / copy / delete, delta queries,
 * change-notification subscriptions (this server POSTs to the app's notification URL), and the
 * Outlook per-mailbox concurrency limit. In memory; the documented protocol is enforced strictly so
 * that a client that passes here is likely to pass against the real service.
 *
 * Rules and where they come from (Microsoft Learn):
 *
 * Mailboxes and auth (https://learn.microsoft.com/graph/permissions-reference,
 * https://learn.microsoft.com/graph/auth-v2-service, https://learn.microsoft.com/graph/errors)
 *   - one mailbox per user, created on first use (`/users/{upn}`, case-insensitive UPN; the user's id, a
 *     GUID, works in paths as well, an unknown GUID → 404 `ErrorInvalidUser`). `GET /me`, `/users/{x}`
 *     (https://learn.microsoft.com/graph/api/user-get) → `{ id, userPrincipalName, mail, displayName }`, to map
 *     the GUID in a notification's resource back to a mailbox.
 *   - `acceptToken` verdicts (see graphServer.ts): a UPN string or `true` = a delegated token for that
 *     user (`/me`); `{ app: true, appId? }` = an application token. `/me/...` with an application token →
 *     400 `BadRequest` "/me request is only valid with delegated authentication flow." (what Graph
 *     answers). An application token (Mail.ReadWrite / Mail.Send application permissions) reaches every
 *     mailbox; a delegated one only the user's own: Mail.ReadWrite covers "the user's mailbox",
 *     Mail.ReadWrite.Shared / Mail.Send.Shared the mailboxes shared with the user → others 403
 *     `ErrorAccessDenied` unless the test calls `grantMailboxAccess(delegate, mailbox)`.
 *
 * Folders (https://learn.microsoft.com/graph/api/resources/mailfolder, mailfolder-get,
 * user-list-mailfolders, mailfolder-list-childfolders, user-post-mailfolders, mailfolder-post-childfolders)
 *   - well-known names (case-insensitive) `inbox`, `drafts`, `sentitems`, `deleteditems`, `junkemail`,
 *     `archive` (Inbox, Drafts, Sent Items, Deleted Items, Junk Email, Archive, the top level under
 *     `msgfolderroot`), and `recoverableitemsdeletions` (Recoverable Items/Deletions, outside the
 *     top of the information store: not listed, not part of `/messages`).
 *   - `GET /mailFolders[/{id}[/childFolders/{id}...]]` → `{ id, displayName, parentFolderId,
 *     childFolderCount, totalItemCount, unreadItemCount, sizeInBytes, isHidden }`; `mailFolders('{id}')`
 *     key syntax too. Lists: `$top` (default 10, the Outlook page size), `$skip`, `@odata.nextLink`,
 *     `$filter=displayName eq 'X'` ('' escapes a quote; compared case-insensitively, as Exchange does);
 *     other filters → 501 (not modelled). Unknown folder → 404 `ErrorItemNotFound`.
 *   - `POST /mailFolders` and `.../childFolders` `{ displayName }` → 201; a sibling of that name
 *     (case-insensitive) → 409 `ErrorFolderExists`.
 *
 * Messages (https://learn.microsoft.com/graph/api/message-get, user-list-messages,
 * mailfolder-list-messages, message-update, https://learn.microsoft.com/graph/query-parameters,
 * https://learn.microsoft.com/graph/paging)
 *   - `GET /messages/{id}`, `/mailFolders/{id}/messages[/{id}]`, `/messages` (every folder of the
 *     information store). `$select` (only those + `id` + `@odata.etag`; an unknown property → 400
 *     `RequestBroker--ParseUri`), `$top` (default 10, at most 1000), `$skip`, `@odata.nextLink`,
 *     `$orderby=receivedDateTime desc|asc` (default desc), `$expand=attachments[($select=...)]`,
 *     `$filter` clauses joined by `and`: `isRead eq`, `hasAttachments eq`, `internetMessageId eq '...'`,
 *     `receivedDateTime ge|gt|le|lt {date}` (others → 501, not modelled).
 *   - `PATCH /messages/{id}`: isRead, categories, importance, flag, inferenceClassification; subject,
 *     body and recipients only while `isDraft` ("Updatable only if isDraft = true") → else 400
 *     `ErrorInvalidPropertyUpdateSentMessage`; unknown properties → 400. Triggers `updated`.
 *   - a message id not in this mailbox (or not in the folder of the path) → 404 `ErrorItemNotFound`.
 *
 * Ids (https://learn.microsoft.com/graph/outlook-immutable-id)
 *   - each message has an immutable id and a regular id; the regular id changes whenever the message
 *     moves to another folder ("By default, this value changes when the item is moved from one
 *     container ... to another"), and the old one then → 404. `Prefer: IdType="ImmutableId"` on a
 *     request → every id in its answer is the immutable one ("This header only applies to the request it
 *     is included with"), `Preference-Applied` echoes it. Both kinds work in paths. A subscription
 *     created with the header notifies with immutable ids ("Existing subscriptions ... without the
 *     header continue to use the default ID format"). Attachment ids are kept across moves (simplified).
 *
 * Attachments (https://learn.microsoft.com/graph/api/message-list-attachments, attachment-get,
 * resources/fileattachment, resources/itemattachment, resources/referenceattachment)
 *   - list / get with `@odata.type` `#microsoft.graph.fileAttachment` | `itemAttachment` |
 *     `referenceAttachment`, id, name, contentType, size, isInline, lastModifiedDateTime; files also
 *     contentId and, unless `$select` leaves it out, `contentBytes` (base64). `$select=contentBytes` or
 *     `microsoft.graph.fileAttachment/contentBytes` both ask for it. Every request is in `requests`,
 *     so a test can assert that a client never asked for the bytes of a large file in JSON.
 *   - `GET .../attachments/{id}/$value` ("Get the raw contents of a file or item attachment"): a file's
 *     bytes (Content-Type its type, Content-Length), an item attachment's MIME (`message/rfc822`); a
 *     reference attachment → 400. Streamed from the stored chunks (1 MiB writes, waiting for 'drain'),
 *     never concatenated: a 200 MB attachment costs no copy. `GET /messages/{id}/$value` → the message's
 *     MIME (multipart/mixed, base64 parts, streamed likewise).
 *   - `POST /messages/{id}/attachments` (base64, under 3 MB, else 413) and
 *     `.../attachments/createUploadSession` (graphServer.ts owns the upload URLs).
 *
 * Move, copy, delete (https://learn.microsoft.com/graph/api/message-move, message-copy, message-delete,
 * message-permanentdelete)
 *   - `POST /messages/{id}/move|copy { destinationId }` (folder id or well-known name) → 201 with the
 *     message (a new regular id; a copy has new ids of both kinds); unknown destination → 404.
 *   - `DELETE /messages/{id}` → 204. The page only says "Delete a message" and notes that items in
 *     `recoverableitemsdeletions` may not be deletable; Graph's DELETE is a soft delete: the message goes
 *     to Recoverable Items/Deletions, not to Deleted Items (moving there is `move` with
 *     `destinationId: 'deleteditems'`). Modelled so: a DELETE is a move into `recoverableitemsdeletions`
 *     (new regular id; gone from `/messages` and delta: `@removed`); DELETE of an item already there →
 *     400 `ErrorCannotDeleteObject`. `POST .../permanentDelete` → 204 and the message is gone from the
 *     mailbox (`permanentlyDeleted(upn)` lists their internetMessageIds).
 *
 * Send (https://learn.microsoft.com/graph/api/user-sendmail, message-send,
 * https://learn.microsoft.com/graph/outlook-large-attachments, attachment-createuploadsession)
 *   - `POST /sendMail { message, saveToSentItems? }`: at least one recipient with an address (else 400
 *     `ErrorInvalidRecipients`), the request at most `maxSendMailBytes` → 202, recorded in `sentMail`;
 *     `saveToSentItems` (default true) puts a copy in Sent Items.
 *   - `POST /messages` → 201, a draft in Drafts; `POST /messages/{id}/send` → 202, the draft moves to
 *     Sent Items ("the draft is saved in the Sent Items folder"; same immutable id, a new regular id), at
 *     most `maxMessageBytes` (else 413 `ErrorMessageSizeExceeded`); sending it again → 404.
 *
 * Delta (https://learn.microsoft.com/graph/api/message-delta, https://learn.microsoft.com/graph/delta-query-messages,
 * https://learn.microsoft.com/graph/delta-query-overview)
 *   - `GET /mailFolders/{id}/messages/delta` (`$select`, `changeType=created|updated|deleted`, page
 *     size from `Prefer: odata.maxpagesize=N` or `$top`, default 10): the first round returns every
 *     message of the folder, in pages linked by `@odata.nextLink` (`$skiptoken`); the last page has
 *     `@odata.deltaLink` (`$deltatoken`), never both. Following the deltaLink returns what changed since:
 *     messages added (delivered, moved or copied in) in full, changed ones (PATCH, a move out and
 *     back) in full, and `{ id, '@removed': { reason: 'deleted' } }` for those that left (moved away,
 *     deleted), with the id the client knew (a regular id changed by a move in and out → removed +
 *     added). Links are opaque absolute URLs on this server, and can be followed again (a page whose
 *     answer was lost); a round keeps its page size unless a request names another.
 *   - a garbled or unknown token → 400 `ErrorInvalidSyncStateData` (Exchange's "Synchronization state
 *     data is corrupt or otherwise invalid"); `expireDeltaTokens(upn?)`: earlier tokens → 410 Gone
 *     `syncStateNotFound` with a `Location` of the initial query ("In case of an expired token, the
 *     service should respond with a 40X-series error with error codes such as syncStateNotFound";
 *     "410 (gone) and a Location header ... the application must restart with a full synchronization").
 *
 * Subscriptions (https://learn.microsoft.com/graph/api/subscription-post-subscriptions, subscription-get,
 * subscription-list, subscription-update, subscription-delete, subscription-reauthorize,
 * resources/subscription, https://learn.microsoft.com/graph/change-notifications-delivery-webhooks,
 * https://learn.microsoft.com/graph/outlook-change-notifications-overview)
 *   - `POST /subscriptions { changeType, notificationUrl, resource, expirationDateTime, clientState?,
 *     lifecycleNotificationUrl?, latestSupportedTlsVersion? }`; changeType a comma list of created,
 *     updated, deleted; resources `me|users/{upn|id}/mailFolders('{id|name}')/messages`,
 *     `.../mailFolders/{id}/messages`, `.../messages` (leading slash optional, case-insensitive).
 *     Delegated tokens may subscribe to their own mailbox only ("delegated permission ... only items
 *     in folders within the signed-in user's mailbox"; the .Shared permissions don't support
 *     subscriptions) → else 403. clientState at most 128 characters. URLs must be https ("This URL must
 *     make use of the HTTPS protocol"); http is allowed here for 127.0.0.1, [::1] and localhost only.
 *   - expiration: in the future (else 400); under 45 minutes is raised to 45 minutes ("Any value under
 *     45 minutes after the time of the request is automatically set to 45 minutes"); at most
 *     `maxSubscriptionMinutes` (default 10,070) ahead → else 400 `ExtensionError` "Subscription expiration
 *     can only be 10070 minutes in the future." The subscription page's table says 10,080 minutes
 *     ("under 7 days") for Outlook messages; the service refuses more than 10,070 with that message.
 *   - validation before 201: `POST {notificationUrl}?validationToken={URL-encoded token}` (Content-Type
 *     text/plain; the token is opaque text with spaces, as Graph's "Validation: Testing client
 *     application reachability..."); the app must answer within 10 s with 200, Content-Type text/plain
 *     and the decoded token as the body, else 400 `ValidationError` "Subscription validation request
 *     failed. Notification endpoint must respond with 200 OK to validation request."; the same for
 *     lifecycleNotificationUrl ("you must validate both"). → 201 with the subscription (id,
 *     applicationId, creatorId, ...). GET (one, list: the app's; a delegated caller sees its own),
 *     PATCH `{ expirationDateTime }` → 200 (same limits; reauthorizes too), DELETE → 204,
 *     `POST /subscriptions/{id}/reauthorize` → 204. Expired subscriptions notify no more and are gone
 *     (404 `ResourceNotFound`).
 *
 * Notifications (change-notifications-delivery-webhooks, resources/changenotification)
 *   - a message created in or moved into a subscribed folder → POST `{ value: [{ subscriptionId,
 *     subscriptionExpirationDateTime, changeType, resource: 'Users/{userId}/Messages/{id}', resourceData:
 *     { '@odata.type': '#Microsoft.Graph.Message', '@odata.id', '@odata.etag', id }, clientState,
 *     tenantId }] }` (application/json). A folder subscription also gets `updated` (PATCH) and `deleted`
 *     (moved away, deleted); a mailbox-wide one (`/messages`) sees a move as `updated` with immutable ids
 *     and as `deleted` + `created` with regular ones (the id changed). One notification per POST, sent
 *     asynchronously and concurrently, never blocking the request that caused it;
 *     `notificationsSettled()` waits for them. The app must answer 2xx within 3 s ("If Microsoft Graph
 *     doesn't receive a 2xx class code within 3 seconds ..."); every attempt is logged in
 *     `notifications` with its status and time, slow or failed ones with ok: false. Graph retries for
 *     up to 4 hours; here nothing is retried by itself: `retryFailedNotifications()` sends the failed
 *     ones again, `notify()` sends any notification again (duplicates, forged clientState).
 *
 * Lifecycle notifications (https://learn.microsoft.com/graph/change-notifications-lifecycle-events)
 *   - `lifecycle(id, event)` POSTs `{ value: [{ subscriptionId, subscriptionExpirationDateTime, tenantId,
 *     clientState, lifecycleEvent }] }` to the lifecycleNotificationUrl; a subscription without one gets
 *     none ("Existing subscriptions without a lifecycleNotificationUrl property don't receive the lifecycle
 *     notifications"). `subscriptionRemoved` also removes the subscription; `reauthorizationRequired`
 *     with `{ pause: true }` stops change notifications (logged as not sent, lost: "Any notifications
 *     ... when the change notification delivery pauses ... are lost") until reauthorize or PATCH.
 *
 * Concurrency (https://learn.microsoft.com/graph/throttling-limits#outlook-service-limits)
 *   - "4 concurrent requests" per app and mailbox: requests to a mailbox's mail resources (folders,
 *     messages, attachments, sendMail) beyond `mailboxConcurrency` (default 4; false = off) in flight
 *     → 429 `ApplicationThrottled` "Application is over its MailboxConcurrency limit." with
 *     `Retry-After` (default 1 s). In flight = from the request's arrival until its answer is finished
 *     or the connection closed (a streamed `$value` counts until its last byte). `maxConcurrent(upn)`.
 *   - "150 megabytes (MB) upload (PATCH, POST, PUT) in a 5 minute period" per app and mailbox: a
 *     request whose Content-Length would take the mailbox's last `mailboxUploadWindowMs` (default
 *     300,000) over `mailboxUploadBytes` (default 150,000,000; false = off) → 429 `ApplicationThrottled`
 *     "Application is over its IncomingBytes limit." with `Retry-After`: the seconds until enough of
 *     the window's uploads are over. Attachment upload-session PUTs count too (`chargeUpload`).
 *   - "10,000 API requests in a 10 minute period" per app and mailbox (`mailboxRequests`,
 *     `mailboxRequestWindowMs`): → 429 `ApplicationThrottled` with `Retry-After` likewise (the
 *     service's wording of this one is not documented; the test server says which limit it was).
 *   - the windows are options so that a benchmark can shorten them, as the app's
 *     RATE_LIMIT_WINDOW_SCALE shortens its own; `throttled(upn)` counts the 429s of each limit and
 *     `sentTimes(upn)` says when each message left the mailbox (Exchange's 30 a minute, which the
 *     service does not answer with a 429 here: the benchmark checks the times).
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { HttpError, MIB, drain, preferences, readBody, readJson, sendJson } from './graphHttp';

// ---------- public types ----------

/** Outlook's limits per app and mailbox (https://learn.microsoft.com/graph/throttling-limits#outlook-service-limits). */
export type OutlookLimit = 'concurrency' | 'requests' | 'uploadBytes';

/** Who called: a delegated token (a user, `/me`) or an application token. */
export type Caller = { kind: 'delegated'; upn: string } | { kind: 'app'; appId?: string };

export interface MailboxOptions {
  /** Requests in flight per mailbox before 429 ApplicationThrottled; default 4, false = no limit. */
  mailboxConcurrency?: number | false;
  /** Retry-After of the MailboxConcurrency 429, seconds; default 1. */
  mailboxConcurrencyRetryAfter?: number;
  /** Bytes uploaded (POST, PUT, PATCH) per mailbox per window before 429; default 150,000,000, false = no limit. */
  mailboxUploadBytes?: number | false;
  /** The upload window, ms; default 300,000 (5 minutes). */
  mailboxUploadWindowMs?: number;
  /** Requests per mailbox per window before 429; default 10,000, false = no limit. */
  mailboxRequests?: number | false;
  /** The request window, ms; default 600,000 (10 minutes). */
  mailboxRequestWindowMs?: number;
  /**
   * Each admitted request to a mailbox's mail is answered this much later (default 0): a mailbox
   * as slow as Exchange under load, so that a client's concurrent requests really overlap (test
   * and server share one event loop, which otherwise serialises them).
   */
  mailAnswerDelayMs?: number;
  /** Largest subscription lifetime, minutes; default 10,070. */
  maxSubscriptionMinutes?: number;
  /** The app must answer a validation request within this; default 10 s. */
  validationTimeoutMs?: number;
  /** The app must answer a notification within this; default 3 s. */
  notificationTimeoutMs?: number;
  /** tenantId in notifications; default a random GUID. */
  tenantId?: string;
  /** applicationId of subscriptions (unless the token verdict names one); default a random GUID. */
  appId?: string;
}

export interface SentAttachment {
  name: string;
  contentType?: string;
  content: Buffer;
}

export interface SentMail {
  /** The sender's UPN (the `/me` user or the mailbox of /users/{upn}/sendMail). */
  from: string;
  /** The message JSON as sent, without the attachments' contentBytes. */
  message: any;
  saveToSentItems: boolean;
  attachments: SentAttachment[];
  /** 'sendMail' or 'draft' (POST /messages/{id}/send). */
  via: 'sendMail' | 'draft';
}

export interface MailAddress {
  address: string;
  name?: string;
}

export type DeliverAttachment =
  | { kind: 'file'; name: string; contentType?: string; content: Buffer | Buffer[]; isInline?: boolean; contentId?: string }
  | { kind: 'item'; name: string; subject: string; from: MailAddress; body?: string; toRecipients?: MailAddress[] }
  | { kind: 'reference'; name: string; sourceUrl: string };

export interface DeliverMessage {
  from: MailAddress;
  subject: string;
  body?: string | { contentType: 'text' | 'html'; content: string };
  receivedDateTime?: string | Date;
  /** Generated (`<...@...>`) when absent. */
  internetMessageId?: string;
  /** Default: the mailbox's user. */
  toRecipients?: MailAddress[];
  ccRecipients?: MailAddress[];
  categories?: string[];
  isRead?: boolean;
  attachments?: DeliverAttachment[];
}

export interface Delivered {
  /** The regular id (changes when the message moves). */
  id: string;
  immutableId: string;
  internetMessageId: string;
}

export interface MailAttachmentView {
  kind: 'file' | 'item' | 'reference';
  id: string;
  name: string;
  contentType: string | null;
  size: number;
  /** SHA-256 (hex) of the content (a file's bytes, an item's MIME), computed on access, without concatenating. */
  readonly sha256: string;
  isInline: boolean;
  contentId?: string;
  /** item attachments: the attached message's subject. */
  subject?: string;
  /** The content, concatenated on access. */
  readonly content: Buffer;
}

export interface MailMessageView {
  id: string;
  immutableId: string;
  internetMessageId: string;
  subject: string;
  from?: { name: string; address: string };
  toRecipients: { name: string; address: string }[];
  categories: string[];
  isRead: boolean;
  isDraft: boolean;
  body: { contentType: string; content: string };
  receivedDateTime: string;
  /** Display path of its folder, e.g. 'Inbox', 'ScanRelay/Processed'. */
  folder: string;
  attachments: MailAttachmentView[];
}

export interface SubscriptionView {
  id: string;
  resource: string;
  changeType: string;
  notificationUrl: string;
  lifecycleNotificationUrl?: string;
  clientState?: string;
  expirationDateTime: string;
  /** The mailbox's UPN. */
  mailbox: string;
  /** Display path of the folder, or null for all messages of the mailbox. */
  folder: string | null;
  idType: 'ImmutableId' | 'default';
  /** Change notifications held back after a reauthorizationRequired with { pause: true }. */
  paused: boolean;
}

export type LifecycleEvent = 'reauthorizationRequired' | 'subscriptionRemoved' | 'missed';

export interface NotificationDelivery {
  kind: 'change' | 'lifecycle' | 'validation';
  subscriptionId?: string;
  url: string;
  changeType?: 'created' | 'updated' | 'deleted';
  /** The message id the notification named. */
  messageId?: string;
  lifecycleEvent?: LifecycleEvent;
  /** The app's HTTP status; 0 when there was none (connection error, timeout, not sent). */
  status: number;
  ms: number;
  /** 2xx within the time limit (validation: 200, text/plain and the token). */
  ok: boolean;
  error?: string;
  /** What was POSTed (the JSON), or the validation token. */
  body: unknown;
}

/** The mailbox part of the GraphServer test API (`graph.mail`). */
export interface GraphMail {
  /** The mailbox of a UPN (created if needed): its user id (GUID) is what notifications name. */
  mailbox(upn: string): { upn: string; userId: string };
  /** Delegated tokens of `delegateUpn` may use `mailboxUpn`'s mail (as Mail.ReadWrite.Shared / Mail.Send.Shared). */
  grantMailboxAccess(delegateUpn: string, mailboxUpn: string): void;
  /** Create the folders of a display path ('ScanRelay/Processed') as needed; → the folder id. */
  addFolder(upn: string, path: string): string;
  /** Display paths of every folder ('Inbox', 'Inbox/Sub', 'Recoverable Items/Deletions', ...). */
  folders(upn: string): string[];
  /** A message arrives in `folder` (well-known name, id or display path; default inbox); notifies unless notify: false. */
  deliver(upn: string, message: DeliverMessage, folder?: string, options?: { notify?: boolean }): Delivered;
  /** Messages of a folder (display path, well-known name or id), newest first. */
  messages(upn: string, folder: string): MailMessageView[];
  /** internetMessageIds of the messages removed by permanentDelete. */
  permanentlyDeleted(upn: string): string[];
  /** The most mail requests this mailbox had in flight at once. */
  maxConcurrent(upn: string): number;
  /** The 429s each of Outlook's limits answered this mailbox's requests. */
  throttled(upn: string): Record<OutlookLimit, number>;
  /** When each message was sent from this mailbox (sendMail, or a draft's send), ms since the epoch. */
  sentTimes(upn: string): number[];
  /** Later uses of the delta tokens (of this mailbox, or all) → 410 syncStateNotFound. */
  expireDeltaTokens(upn?: string): void;
  subscriptions(): SubscriptionView[];
  /** The subscription expires `ms` from now (0 or less: expired now). */
  expireSubscriptionIn(id: string, ms: number): void;
  /** The service drops the subscription without telling anyone. */
  removeSubscription(id: string): void;
  /** Send a change notification (default 'created') for a message again; → the app's status. */
  notify(
    subscriptionId: string,
    messageId: string,
    options?: { clientState?: string; changeType?: 'created' | 'updated' | 'deleted' },
  ): Promise<number>;
  /** Send a lifecycle notification; → the app's status, null when the subscription has no lifecycleNotificationUrl. */
  lifecycle(subscriptionId: string, event: LifecycleEvent, options?: { pause?: boolean }): Promise<number | null>;
  /** Hold change notifications (nothing lost) until resumeNotifications(). */
  pauseNotifications(): void;
  resumeNotifications(): void;
  /** Send every failed change notification once more; → the statuses. */
  retryFailedNotifications(): Promise<number[]>;
  /** Every delivery attempt (validation, change, lifecycle), in order of completion. */
  readonly notifications: NotificationDelivery[];
  /** Resolves when no notification is being sent (held ones don't count). */
  notificationsSettled(): Promise<void>;
}

/** Where an attachment upload session puts its bytes (opaque to graphServer.ts). */
export interface AttachmentTarget {
  mailboxKey: string;
  messageId: string;
  name: string;
  contentType?: string;
}

export interface MailboxDeps {
  origin(): string;
  limits: { maxSendMailBytes: number; maxMessageBytes: number; maxAttachmentBytes: number; minAttachmentSessionBytes: number };
  /** Opens an upload session (graphServer.ts owns upload URLs) → the uploadSession JSON. */
  openAttachmentSession(target: AttachmentTarget, size: number): Record<string, unknown>;
}

export interface Mailboxes {
  api: GraphMail;
  sentMail: SentMail[];
  /** Drafts created and neither sent nor deleted. */
  openDrafts(): number;
  /** Serves `/me|/users/{x}` mail routes and `/subscriptions`; false when `path` is not one of them. */
  handle(req: IncomingMessage, res: ServerResponse, url: URL, path: string, caller: Caller, log: { bodyBytes: number }): Promise<boolean>;
  /** An attachment upload session completed → the attachment's URL (Location). */
  completeAttachmentUpload(target: AttachmentTarget, chunks: Buffer[], size: number): string;
  /** An upload-session PUT of `bytes` to the target's mailbox: counted in its upload window, or 429 (HttpError). */
  chargeUpload(target: AttachmentTarget, bytes: number): void;
  stop(): void;
}

// ---------- model ----------

interface Folder {
  id: string;
  displayName: string;
  parentId: string | null;
  wellKnown?: string;
  /** Outside the top of the information store (Recoverable Items): not in `/messages`. */
  outsideIpm: boolean;
}

interface Recipient {
  emailAddress: { name: string; address: string };
}

interface Attachment {
  id: string;
  kind: 'file' | 'item' | 'reference';
  name: string;
  contentType: string | null;
  isInline: boolean;
  contentId?: string;
  lastModified: string;
  /** file: the bytes as stored; item: its MIME (one chunk). */
  chunks: Buffer[];
  size: number;
  item?: { subject: string; from: Recipient; toRecipients: Recipient[]; body: string; received: string };
  sourceUrl?: string;
}

interface Message {
  immutableId: string;
  regularId: string;
  folderId: string;
  internetMessageId: string;
  conversationId: string;
  subject: string;
  from?: Recipient;
  sender?: Recipient;
  toRecipients: Recipient[];
  ccRecipients: Recipient[];
  bccRecipients: Recipient[];
  replyTo: Recipient[];
  body: { contentType: 'text' | 'html'; content: string };
  received: string;
  sent?: string;
  created: string;
  modified: string;
  isRead: boolean;
  isDraft: boolean;
  categories: string[];
  importance: string;
  flag: unknown;
  inferenceClassification: string;
  attachments: Attachment[];
  version: number;
  /** Drafts: the JSON as POSTed (contentBytes stripped), with PATCHed changes; what sentMail records. */
  original?: any;
}

interface Mailbox {
  key: string;
  upn: string;
  userId: string;
  folders: Map<string, Folder>;
  messages: Map<string, Message>; // immutable id → message
  regular: Map<string, string>; // current regular id → immutable id
  inFlight: number;
  maxInFlight: number;
  /** Admitted requests' times, and uploads' times and bytes, within their windows. */
  requestTimes: number[];
  uploads: Array<{ at: number; bytes: number }>;
  throttled: Record<OutlookLimit, number>;
  sentTimes: number[];
  permanentlyDeleted: string[];
  deltaGeneration: number;
}

type IdKind = 'immutable' | 'regular';

interface DeltaSnapshot {
  mailboxKey: string;
  folderId: string;
  select?: string[];
  changeType?: string;
  generation: number;
  /** immutable id → what the client saw: regular id and version. */
  seen: Map<string, { regularId: string; version: number }>;
}

type DeltaEntry = { kind: 'item'; immutableId: string } | { kind: 'removed'; immutableId: string; regularId: string };

interface DeltaPaging {
  snapshot: DeltaSnapshot;
  entries: DeltaEntry[];
  pageSize: number;
  path: string;
}

interface Subscription {
  id: string;
  resource: string;
  changeType: string;
  changeTypes: Set<string>;
  notificationUrl: string;
  lifecycleNotificationUrl?: string;
  clientState?: string;
  latestSupportedTlsVersion: string;
  expires: number;
  applicationId: string;
  creatorId: string;
  /** The delegated user who created it (they may read it), undefined for app tokens. */
  creatorUpn?: string;
  idKind: IdKind;
  mailboxKey: string;
  /** null: every message of the mailbox. */
  folderId: string | null;
  paused: boolean;
}

const WELL_KNOWN: [string, string][] = [
  ['inbox', 'Inbox'],
  ['drafts', 'Drafts'],
  ['sentitems', 'Sent Items'],
  ['deleteditems', 'Deleted Items'],
  ['junkemail', 'Junk Email'],
  ['archive', 'Archive'],
];

const MESSAGE_PROPS = [
  'id',
  'createdDateTime',
  'lastModifiedDateTime',
  'changeKey',
  'categories',
  'receivedDateTime',
  'sentDateTime',
  'hasAttachments',
  'internetMessageId',
  'subject',
  'bodyPreview',
  'importance',
  'parentFolderId',
  'conversationId',
  'isDeliveryReceiptRequested',
  'isReadReceiptRequested',
  'isRead',
  'isDraft',
  'webLink',
  'inferenceClassification',
  'body',
  'uniqueBody',
  'sender',
  'from',
  'toRecipients',
  'ccRecipients',
  'bccRecipients',
  'replyTo',
  'flag',
];
const FOLDER_PROPS = [
  'id',
  'displayName',
  'parentFolderId',
  'childFolderCount',
  'totalItemCount',
  'unreadItemCount',
  'sizeInBytes',
  'isHidden',
];
const ATTACHMENT_PROPS = [
  'id',
  'name',
  'contentType',
  'size',
  'isInline',
  'lastModifiedDateTime',
  'contentId',
  'contentLocation',
  'contentBytes',
];
const PATCHABLE = ['isRead', 'categories', 'importance', 'flag', 'inferenceClassification'];
const PATCHABLE_DRAFT = ['subject', 'body', 'toRecipients', 'ccRecipients', 'bccRecipients', 'replyTo'];

const lower = (s: string) => s.toLowerCase();
/** Graph's date format: seconds, Z. */
const graphDate = (d: Date | string | number = new Date()) => new Date(d).toISOString().replace(/\.\d{3}Z$/, 'Z');
const outlookId = (prefix: string) => `${prefix}${randomBytes(33).toString('base64url')}=`;
const sha256Of = (chunks: Buffer[]) => {
  const h = createHash('sha256');
  for (const c of chunks) h.update(c);
  return h.digest('hex');
};
const concat = (chunks: Buffer[], size: number) => (chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size));
const notFound = () => new HttpError(404, 'ErrorItemNotFound', 'The specified object was not found in the store.');

function recipient(a: MailAddress): Recipient {
  return { emailAddress: { name: a.name ?? a.address, address: a.address } };
}

/** Recipients from request JSON: `[{ emailAddress: { address, name? } }]`. */
function recipientsFrom(list: unknown, field: string): Recipient[] {
  if (list === undefined || list === null) return [];
  if (!Array.isArray(list)) throw new HttpError(400, 'RequestBodyRead', `${field} must be an array.`);
  return list.map((r: any) => {
    const address = r?.emailAddress?.address;
    if (typeof address !== 'string') throw new HttpError(400, 'ErrorInvalidRecipients', 'At least one recipient is not valid.');
    return { emailAddress: { name: typeof r.emailAddress.name === 'string' ? r.emailAddress.name : address, address } };
  });
}

function bodyPreview(body: { contentType: string; content: string }): string {
  const text = body.contentType === 'html' ? body.content.replace(/<[^>]*>/g, ' ') : body.content;
  return text.replace(/\s+/g, ' ').trim().slice(0, 255);
}

// ---------- MIME (item attachments, message $value) ----------

function encodeHeaderWord(s: string): string {
  return /^[\x20-\x7e]*$/.test(s) ? s : `=?UTF-8?B?${Buffer.from(s, 'utf8').toString('base64')}?=`;
}

function mimeAddress(r: Recipient): string {
  return `${encodeHeaderWord(r.emailAddress.name.replace(/["\\]/g, ''))} <${r.emailAddress.address}>`;
}

function base64Lines(b: Buffer): string {
  return (b.toString('base64').match(/.{1,76}/g) ?? []).join('\r\n');
}

/** Base64 of chunks in 76-character lines, a part at a time (no concatenation of the whole). */
function* base64Stream(chunks: Buffer[]): Generator<Buffer> {
  const LINE = 57; // bytes per 76-character line
  const BLOCK = LINE * 16 * 1024; // ~0.9 MB of input per output piece
  let carry = Buffer.alloc(0);
  for (const chunk of chunks) {
    let off = 0;
    if (carry.length > 0) {
      const need = LINE - carry.length;
      const head = Buffer.concat([carry, chunk.subarray(0, need)]);
      off = Math.min(need, chunk.length);
      if (head.length < LINE) {
        carry = head;
        continue;
      }
      yield Buffer.from(`${head.toString('base64')}\r\n`, 'latin1');
      carry = Buffer.alloc(0);
    }
    while (chunk.length - off >= LINE) {
      const n = Math.min(BLOCK, Math.floor((chunk.length - off) / LINE) * LINE);
      yield Buffer.from(`${base64Lines(chunk.subarray(off, off + n))}\r\n`, 'latin1');
      off += n;
    }
    if (off < chunk.length) carry = Buffer.from(chunk.subarray(off));
  }
  if (carry.length > 0) yield Buffer.from(`${carry.toString('base64')}\r\n`, 'latin1');
}

function mimeHeaders(h: {
  from?: Recipient;
  to: Recipient[];
  cc?: Recipient[];
  subject: string;
  date: string;
  messageId?: string;
}): string {
  const lines = [
    ...(h.from ? [`From: ${mimeAddress(h.from)}`] : []),
    ...(h.to.length ? [`To: ${h.to.map(mimeAddress).join(', ')}`] : []),
    ...(h.cc?.length ? [`Cc: ${h.cc.map(mimeAddress).join(', ')}`] : []),
    `Subject: ${encodeHeaderWord(h.subject)}`,
    `Date: ${new Date(h.date).toUTCString().replace('GMT', '+0000')}`,
    ...(h.messageId ? [`Message-ID: ${h.messageId}`] : []),
    'MIME-Version: 1.0',
  ];
  return lines.join('\r\n') + '\r\n';
}

/** A minimal RFC 5322 message (an item attachment): headers and a base64 text body. */
function itemMime(item: NonNullable<Attachment['item']>): Buffer {
  return Buffer.from(
    mimeHeaders({ from: item.from, to: item.toRecipients, subject: item.subject, date: item.received }) +
      'Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n' +
      base64Lines(Buffer.from(item.body, 'utf8')) +
      '\r\n',
    'utf8',
  );
}

function* messageMime(m: Message): Generator<Buffer> {
  const boundary = `----=_Part_${randomBytes(12).toString('hex')}`;
  const head = mimeHeaders({
    from: m.from,
    to: m.toRecipients,
    cc: m.ccRecipients,
    subject: m.subject,
    date: m.sent ?? m.received,
    messageId: m.internetMessageId,
  });
  const bodyPart = (body: Message['body']) =>
    `Content-Type: text/${body.contentType === 'html' ? 'html' : 'plain'}; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n` +
    `${base64Lines(Buffer.from(body.content, 'utf8'))}\r\n`;
  if (m.attachments.length === 0) {
    yield Buffer.from(head + bodyPart(m.body), 'utf8');
    return;
  }
  yield Buffer.from(`${head}Content-Type: multipart/mixed; boundary="${boundary}"\r\n\r\n--${boundary}\r\n${bodyPart(m.body)}`, 'utf8');
  for (const a of m.attachments) {
    if (a.kind === 'reference') continue;
    const name = encodeURIComponent(a.name);
    if (a.kind === 'item') {
      yield Buffer.from(
        `--${boundary}\r\nContent-Type: message/rfc822\r\nContent-Disposition: attachment; filename*=UTF-8''${name}\r\n\r\n`,
      );
      yield* a.chunks;
      yield Buffer.from('\r\n');
      continue;
    }
    yield Buffer.from(
      `--${boundary}\r\nContent-Type: ${a.contentType ?? 'application/octet-stream'}\r\n` +
        `Content-Disposition: ${a.isInline ? 'inline' : 'attachment'}; filename*=UTF-8''${name}\r\n` +
        (a.contentId ? `Content-ID: <${a.contentId}>\r\n` : '') +
        'Content-Transfer-Encoding: base64\r\n\r\n',
    );
    yield* base64Stream(a.chunks);
  }
  yield Buffer.from(`--${boundary}--\r\n`);
}

/** Write pieces in at most 1 MiB writes, waiting for 'drain' (backpressure); stops if the client goes away. */
async function streamOut(res: ServerResponse, pieces: Iterable<Buffer>): Promise<void> {
  for (const piece of pieces) {
    for (let off = 0; off < piece.length; off += MIB) {
      if (res.destroyed) return;
      if (!res.write(piece.subarray(off, off + MIB))) {
        await new Promise<void>((resolve) => {
          const done = () => {
            res.off('drain', done);
            res.off('close', done);
            resolve();
          };
          res.on('drain', done);
          res.on('close', done);
        });
      }
    }
  }
  if (!res.destroyed) res.end();
}

// ---------- outgoing POSTs (validation, notifications) ----------

interface PostResult {
  status: number;
  contentType: string;
  text: string;
  ms: number;
  error?: string;
}

// ---------- the module ----------

export function createMailboxes(deps: MailboxDeps, options: MailboxOptions = {}): Mailboxes {
  const opts = {
    concurrency: options.mailboxConcurrency === undefined ? 4 : options.mailboxConcurrency,
    retryAfter: options.mailboxConcurrencyRetryAfter ?? 1,
    uploadBytes: options.mailboxUploadBytes === undefined ? 150_000_000 : options.mailboxUploadBytes,
    uploadWindowMs: options.mailboxUploadWindowMs ?? 300_000,
    requests: options.mailboxRequests === undefined ? 10_000 : options.mailboxRequests,
    requestWindowMs: options.mailboxRequestWindowMs ?? 600_000,
    answerDelayMs: options.mailAnswerDelayMs ?? 0,
    maxSubscriptionMinutes: options.maxSubscriptionMinutes ?? 10_070,
    validationTimeoutMs: options.validationTimeoutMs ?? 10_000,
    notificationTimeoutMs: options.notificationTimeoutMs ?? 3_000,
    tenantId: options.tenantId ?? randomUUID(),
    appId: options.appId ?? randomUUID(),
  };
  const servicePrincipalId = randomUUID();
  const mailboxes = new Map<string, Mailbox>(); // lower-case UPN → mailbox
  const byUserId = new Map<string, Mailbox>();
  const grants = new Set<string>(); // `${delegate}\n${mailbox}`, lower-case
  const sentMail: SentMail[] = [];
  const deltaTokens = new Map<string, DeltaSnapshot>();
  const skipTokens = new Map<string, DeltaPaging>();
  const subscriptions = new Map<string, Subscription>();
  const notifications: NotificationDelivery[] = [];
  const retried = new WeakSet<NotificationDelivery>();
  const pending = new Set<Promise<unknown>>();
  const held: (() => Promise<unknown>)[] = [];
  const outgoing = new Set<{ destroy(): void }>();
  let holdNotifications = false;
  let stopped = false;

  // ----- mailboxes and folders -----

  function mailboxFor(upn: string): Mailbox {
    const key = lower(upn);
    let mb = mailboxes.get(key);
    if (!mb) {
      mb = {
        key,
        upn,
        userId: randomUUID(),
        folders: new Map(),
        messages: new Map(),
        regular: new Map(),
        inFlight: 0,
        maxInFlight: 0,
        requestTimes: [],
        uploads: [],
        throttled: { concurrency: 0, requests: 0, uploadBytes: 0 },
        sentTimes: [],
        permanentlyDeleted: [],
        deltaGeneration: 0,
      };
      const root: Folder = {
        id: outlookId('AAMkAGRvb3Q'),
        displayName: 'Top of Information Store',
        parentId: null,
        wellKnown: 'msgfolderroot',
        outsideIpm: false,
      };
      mb.folders.set(root.id, root);
      for (const [wk, name] of WELL_KNOWN) {
        const f: Folder = { id: outlookId('AAMkAGZvbGRlcg'), displayName: name, parentId: root.id, wellKnown: wk, outsideIpm: false };
        mb.folders.set(f.id, f);
      }
      const rec: Folder = {
        id: outlookId('AAMkAGRlbGV0ZQ'),
        displayName: 'Recoverable Items',
        parentId: null,
        wellKnown: 'recoverableitemsroot',
        outsideIpm: true,
      };
      mb.folders.set(rec.id, rec);
      const del: Folder = {
        id: outlookId('AAMkAGRlbGV0ZQ'),
        displayName: 'Deletions',
        parentId: rec.id,
        wellKnown: 'recoverableitemsdeletions',
        outsideIpm: true,
      };
      mb.folders.set(del.id, del);
      mailboxes.set(key, mb);
      byUserId.set(mb.userId, mb);
    }
    return mb;
  }

  function wellKnown(mb: Mailbox, name: string): Folder {
    for (const f of mb.folders.values()) if (f.wellKnown === name) return f;
    throw new Error(`no ${name} folder`);
  }

  function root(mb: Mailbox): Folder {
    return wellKnown(mb, 'msgfolderroot');
  }

  /** A folder by id or well-known name (case-insensitive), or undefined. */
  function findFolder(mb: Mailbox, idOrName: string): Folder | undefined {
    const f = mb.folders.get(idOrName);
    if (f) return f;
    const wk = lower(idOrName);
    for (const x of mb.folders.values()) if (x.wellKnown === wk) return x;
    return undefined;
  }

  function children(mb: Mailbox, parent: Folder): Folder[] {
    return [...mb.folders.values()].filter((f) => f.parentId === parent.id);
  }

  function folderPath(mb: Mailbox, f: Folder): string {
    const names: string[] = [];
    let cur: Folder | undefined = f;
    while (cur && cur.wellKnown !== 'msgfolderroot') {
      names.unshift(cur.displayName);
      cur = cur.parentId ? mb.folders.get(cur.parentId) : undefined;
    }
    return names.join('/');
  }

  /** Test-side folder lookup: well-known name, id or display path. */
  function folderBySpec(mb: Mailbox, spec: string): Folder {
    const f = findFolder(mb, spec) ?? [...mb.folders.values()].find((x) => x.parentId !== null && lower(folderPath(mb, x)) === lower(spec));
    if (!f) throw new Error(`graph.mail: no folder ${spec} in ${mb.upn} (folders: ${api.folders(mb.upn).join(', ')})`);
    return f;
  }

  function createFolder(mb: Mailbox, parent: Folder, displayName: string): Folder {
    if (children(mb, parent).some((c) => lower(c.displayName) === lower(displayName))) {
      throw new HttpError(409, 'ErrorFolderExists', 'A folder with the specified name already exists.');
    }
    const f: Folder = { id: outlookId('AAMkAGZvbGRlcg'), displayName, parentId: parent.id, outsideIpm: parent.outsideIpm };
    mb.folders.set(f.id, f);
    return f;
  }

  function folderMessages(mb: Mailbox, f: Folder): Message[] {
    return [...mb.messages.values()].filter((m) => m.folderId === f.id);
  }

  function folderJson(mb: Mailbox, f: Folder, select?: string[]): Record<string, unknown> {
    const msgs = folderMessages(mb, f);
    const full: Record<string, unknown> = {
      id: f.id,
      displayName: f.displayName,
      parentFolderId: f.parentId ?? root(mb).id,
      childFolderCount: children(mb, f).length,
      unreadItemCount: msgs.filter((m) => !m.isRead).length,
      totalItemCount: msgs.length,
      sizeInBytes: msgs.reduce((n, m) => n + m.attachments.reduce((k, a) => k + a.size, 0) + Buffer.byteLength(m.body.content), 0),
      isHidden: false,
    };
    return select ? pick(full, select) : full;
  }

  // ----- messages -----

  function findMessage(mb: Mailbox, id: string): Message | undefined {
    return mb.messages.get(id) ?? mb.messages.get(mb.regular.get(id) ?? '');
  }

  function newMessage(mb: Mailbox, folder: Folder, fields: Partial<Message>): Message {
    const t = graphDate();
    const m: Message = {
      immutableId: outlookId('AAkALgAAAAAAHYQDEapmEc2byACqAC'),
      regularId: outlookId('AAMkADNkNAAA'),
      folderId: folder.id,
      internetMessageId: `<${randomBytes(12).toString('hex')}@${mb.upn.split('@')[1] ?? 'contoso.example'}>`,
      conversationId: outlookId('AAQkADNkNAAA'),
      subject: '',
      toRecipients: [],
      ccRecipients: [],
      bccRecipients: [],
      replyTo: [],
      body: { contentType: 'text', content: '' },
      received: t,
      created: t,
      modified: t,
      isRead: false,
      isDraft: false,
      categories: [],
      importance: 'normal',
      flag: { flagStatus: 'notFlagged' },
      inferenceClassification: 'focused',
      attachments: [],
      version: 1,
      ...fields,
    };
    mb.messages.set(m.immutableId, m);
    mb.regular.set(m.regularId, m.immutableId);
    return m;
  }

  /** Move to another folder: a new regular id (the old one → 404), same immutable id. */
  function moveMessage(mb: Mailbox, m: Message, to: Folder): void {
    const from = m.folderId;
    const oldRegular = m.regularId;
    mb.regular.delete(m.regularId);
    m.regularId = outlookId('AAMkADNkNAAA');
    mb.regular.set(m.regularId, m.immutableId);
    m.folderId = to.id;
    m.version++;
    m.modified = graphDate();
    changed(mb, { kind: 'moved', message: m, fromFolderId: from, oldRegularId: oldRegular });
  }

  function removeMessage(mb: Mailbox, m: Message): void {
    mb.messages.delete(m.immutableId);
    mb.regular.delete(m.regularId);
    changed(mb, { kind: 'deleted', message: m, fromFolderId: m.folderId, oldRegularId: m.regularId });
  }

  const etag = (m: Message) => `W/"CQAAABYAAAA${Buffer.from(`${m.immutableId.slice(-8)}:${m.version}`).toString('base64')}"`;
  const msgId = (m: Message, kind: IdKind) => (kind === 'immutable' ? m.immutableId : m.regularId);

  function attachmentJson(a: Attachment, select?: Set<string>): Record<string, unknown> {
    const type = `#microsoft.graph.${a.kind === 'file' ? 'fileAttachment' : a.kind === 'item' ? 'itemAttachment' : 'referenceAttachment'}`;
    const full: Record<string, unknown> = {
      '@odata.type': type,
      id: a.id,
      lastModifiedDateTime: a.lastModified,
      name: a.name,
      contentType: a.contentType,
      size: a.size,
      isInline: a.isInline,
    };
    if (a.kind === 'file') {
      full.contentId = a.contentId ?? null;
      full.contentLocation = null;
      if (!select || select.has('contentBytes')) full.contentBytes = concat(a.chunks, a.size).toString('base64');
    }
    if (a.kind === 'reference') {
      full.sourceUrl = a.sourceUrl;
      full.providerType = 'other';
      full.permission = 'view';
      full.isFolder = false;
    }
    if (!select) return full;
    return Object.fromEntries(Object.entries(full).filter(([k]) => k === '@odata.type' || k === 'id' || select.has(k)));
  }

  function messageJson(
    m: Message,
    kind: IdKind,
    select?: string[],
    expand?: { attachments: boolean; select?: Set<string> },
  ): Record<string, unknown> {
    const id = msgId(m, kind);
    const full: Record<string, unknown> = {
      '@odata.etag': etag(m),
      id,
      createdDateTime: m.created,
      lastModifiedDateTime: m.modified,
      changeKey: etag(m).slice(3, -1),
      categories: [...m.categories],
      receivedDateTime: m.received,
      sentDateTime: m.sent ?? (m.isDraft ? null : m.received),
      hasAttachments: m.attachments.some((a) => !a.isInline),
      internetMessageId: m.internetMessageId,
      subject: m.subject,
      bodyPreview: bodyPreview(m.body),
      importance: m.importance,
      parentFolderId: m.folderId,
      conversationId: m.conversationId,
      isDeliveryReceiptRequested: false,
      isReadReceiptRequested: false,
      isRead: m.isRead,
      isDraft: m.isDraft,
      webLink: `https://outlook.office365.com/owa/?ItemID=${encodeURIComponent(id)}&exvsurl=1&viewmodel=ReadMessageItem`,
      inferenceClassification: m.inferenceClassification,
      body: { ...m.body },
      sender: m.sender ?? m.from ?? null,
      from: m.from ?? null,
      toRecipients: m.toRecipients,
      ccRecipients: m.ccRecipients,
      bccRecipients: m.bccRecipients,
      replyTo: m.replyTo,
      flag: m.flag,
    };
    if (select) {
      const out = pick(full, select);
      out['@odata.etag'] = full['@odata.etag'];
      if (select.includes('uniqueBody')) out.uniqueBody = { ...m.body };
      if (expand?.attachments) out.attachments = m.attachments.map((a) => attachmentJson(a, expand.select));
      return out;
    }
    if (expand?.attachments) full.attachments = m.attachments.map((a) => attachmentJson(a, expand.select));
    return full;
  }

  function makeAttachment(a: DeliverAttachment): Attachment {
    const base = { id: outlookId('AAMkADNkNAAABEgAQA'), name: a.name, lastModified: graphDate(), isInline: false };
    if (a.kind === 'file') {
      const chunks = Array.isArray(a.content) ? a.content : [a.content];
      return {
        ...base,
        kind: 'file',
        contentType: a.contentType ?? 'application/octet-stream',
        isInline: a.isInline === true,
        contentId: a.contentId,
        chunks,
        size: chunks.reduce((n, c) => n + c.length, 0),
      };
    }
    if (a.kind === 'item') {
      const item = {
        subject: a.subject,
        from: recipient(a.from),
        toRecipients: (a.toRecipients ?? []).map(recipient),
        body: a.body ?? '',
        received: graphDate(),
      };
      const mime = itemMime(item);
      return { ...base, kind: 'item', contentType: null, chunks: [mime], size: mime.length, item };
    }
    return { ...base, kind: 'reference', contentType: null, chunks: [], size: 0, sourceUrl: a.sourceUrl };
  }

  function messageView(mb: Mailbox, m: Message): MailMessageView {
    return {
      id: m.regularId,
      immutableId: m.immutableId,
      internetMessageId: m.internetMessageId,
      subject: m.subject,
      from: m.from ? { ...m.from.emailAddress } : undefined,
      toRecipients: m.toRecipients.map((r) => ({ ...r.emailAddress })),
      categories: [...m.categories],
      isRead: m.isRead,
      isDraft: m.isDraft,
      body: { ...m.body },
      receivedDateTime: m.received,
      folder: folderPath(mb, mb.folders.get(m.folderId)!),
      attachments: m.attachments.map((a) => ({
        kind: a.kind,
        id: a.id,
        name: a.name,
        contentType: a.contentType,
        size: a.size,
        get sha256() {
          return sha256Of(a.chunks);
        },
        isInline: a.isInline,
        ...(a.contentId ? { contentId: a.contentId } : {}),
        ...(a.item ? { subject: a.item.subject } : {}),
        get content() {
          return concat(a.chunks, a.size);
        },
      })),
    };
  }

  // ----- change events → notifications -----

  type Change =
    | { kind: 'created'; message: Message }
    | { kind: 'updated'; message: Message }
    | { kind: 'moved'; message: Message; fromFolderId: string; oldRegularId: string }
    | { kind: 'deleted'; message: Message; fromFolderId: string; oldRegularId: string };

  /** Every subscription of this mailbox that a change concerns gets a notification. */
  function changed(mb: Mailbox, c: Change, notify = true): void {
    if (!notify) return;
    const m = c.message;
    const toFolder = mb.folders.get(m.folderId);
    const inIpm = (folderId: string) => !(mb.folders.get(folderId)?.outsideIpm ?? true);
    for (const sub of [...subscriptions.values()]) {
      if (sub.mailboxKey !== mb.key || !alive(sub)) continue;
      const oldId = c.kind === 'moved' || c.kind === 'deleted' ? (sub.idKind === 'immutable' ? m.immutableId : c.oldRegularId) : '';
      const newId = msgId(m, sub.idKind);
      const send = (type: 'created' | 'updated' | 'deleted', id: string) => {
        if (sub.changeTypes.has(type)) queueChange(sub, type, id, type === 'deleted' ? undefined : etag(m));
      };
      if (sub.folderId !== null) {
        if (c.kind === 'created' || c.kind === 'updated') {
          if (sub.folderId === m.folderId) send(c.kind, newId);
        } else {
          if (sub.folderId === c.fromFolderId) send('deleted', oldId);
          if (c.kind === 'moved' && sub.folderId === toFolder?.id) send('created', newId);
        }
        continue;
      }
      // All messages of the mailbox (the information store: not Recoverable Items).
      if (c.kind === 'created' || c.kind === 'updated') {
        if (inIpm(m.folderId)) send(c.kind, newId);
      } else if (c.kind === 'deleted') {
        if (inIpm(c.fromFolderId)) send('deleted', oldId);
      } else {
        const wasIn = inIpm(c.fromFolderId);
        const isIn = inIpm(m.folderId);
        if (wasIn && isIn && sub.idKind === 'immutable') send('updated', newId);
        else {
          if (wasIn) send('deleted', oldId);
          if (isIn) send('created', newId);
        }
      }
    }
  }

  function resourcePath(mb: Mailbox, id: string) {
    return `Users/${mb.userId}/Messages/${id}`;
  }

  function changeBody(
    sub: Subscription,
    type: 'created' | 'updated' | 'deleted',
    id: string,
    tag: string | undefined,
    clientState?: string,
  ) {
    const mb = mailboxes.get(sub.mailboxKey)!;
    return {
      value: [
        {
          subscriptionId: sub.id,
          subscriptionExpirationDateTime: new Date(sub.expires).toISOString(),
          changeType: type,
          resource: resourcePath(mb, id),
          resourceData: {
            '@odata.type': '#Microsoft.Graph.Message',
            '@odata.id': resourcePath(mb, id),
            ...(tag ? { '@odata.etag': tag } : {}),
            id,
          },
          clientState: clientState ?? sub.clientState ?? null,
          tenantId: opts.tenantId,
        },
      ],
    };
  }

  function queueChange(sub: Subscription, type: 'created' | 'updated' | 'deleted', id: string, tag: string | undefined): void {
    const body = changeBody(sub, type, id, tag);
    const job = () => sendChange(sub, type, id, body);
    if (holdNotifications) held.push(job);
    else void track(job());
  }

  async function sendChange(sub: Subscription, type: 'created' | 'updated' | 'deleted', id: string, body: unknown): Promise<number> {
    const base = { kind: 'change' as const, subscriptionId: sub.id, url: sub.notificationUrl, changeType: type, messageId: id, body };
    const notSent = (error: string) => {
      const entry: NotificationDelivery = { ...base, status: 0, ms: 0, ok: false, error };
      retried.add(entry); // lost, not failed: never sent again
      notifications.push(entry);
      return 0;
    };
    if (!alive(sub)) return notSent('subscription expired or removed: not sent');
    if (sub.paused) return notSent('paused until reauthorized (reauthorizationRequired): lost');
    const r = await post(sub.notificationUrl, JSON.stringify(body), 'application/json; charset=utf-8', opts.notificationTimeoutMs);
    const ok = r.status >= 200 && r.status < 300 && r.ms <= opts.notificationTimeoutMs;
    notifications.push({ ...base, status: r.status, ms: r.ms, ok, ...(r.error ? { error: r.error } : {}) });
    return r.status;
  }

  function track<T>(p: Promise<T>): Promise<T> {
    const q = p.finally(() => pending.delete(q));
    pending.add(q);
    return p;
  }

  /** POST to the app (http or https, no connection reuse), with a time limit. */
  function post(url: string, body: string, contentType: string, timeoutMs: number): Promise<PostResult> {
    const started = performance.now();
    return new Promise((resolve) => {
      let target: URL;
      try {
        target = new URL(url);
      } catch {
        return resolve({ status: 0, contentType: '', text: '', ms: 0, error: 'invalid URL' });
      }
      if (stopped) return resolve({ status: 0, contentType: '', text: '', ms: 0, error: 'server stopped' });
      const send = target.protocol === 'https:' ? httpsRequest : httpRequest;
      let settled = false;
      const finish = (r: Omit<PostResult, 'ms'>) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        outgoing.delete(req);
        resolve({ ...r, ms: Math.round(performance.now() - started) });
      };
      const req = send(
        target,
        { method: 'POST', agent: false, headers: { 'content-type': contentType, 'content-length': Buffer.byteLength(body) } },
        (res) => {
          const parts: Buffer[] = [];
          res.on('data', (c: Buffer) => parts.push(c));
          res.on('end', () =>
            finish({
              status: res.statusCode ?? 0,
              contentType: String(res.headers['content-type'] ?? ''),
              text: Buffer.concat(parts).toString('utf8'),
            }),
          );
          res.on('error', (e) => finish({ status: 0, contentType: '', text: '', error: e.message }));
        },
      );
      const timer = setTimeout(() => {
        finish({ status: 0, contentType: '', text: '', error: `no answer within ${timeoutMs} ms` });
        req.destroy();
      }, timeoutMs);
      outgoing.add(req);
      req.on('error', (e) => finish({ status: 0, contentType: '', text: '', error: e.message }));
      req.end(body);
    });
  }

  async function validate(url: string, subscriptionId: string | undefined): Promise<boolean> {
    const token = `Validation: Testing client application reachability for subscription Request-Id: ${randomUUID()}`;
    const target = `${url}${url.includes('?') ? '&' : '?'}validationToken=${encodeURIComponent(token)}`;
    const r = await track(post(target, '', 'text/plain; charset=utf-8', opts.validationTimeoutMs));
    const ok = r.status === 200 && /^text\/plain\b/i.test(r.contentType) && r.text === token && r.ms <= opts.validationTimeoutMs;
    const why = ok
      ? undefined
      : (r.error ??
        (r.status !== 200
          ? `status ${r.status}`
          : !/^text\/plain\b/i.test(r.contentType)
            ? `Content-Type ${r.contentType || '(none)'}`
            : 'the body is not the validation token'));
    notifications.push({
      kind: 'validation',
      subscriptionId,
      url,
      status: r.status,
      ms: r.ms,
      ok,
      ...(why ? { error: why } : {}),
      body: token,
    });
    return ok;
  }

  async function sendLifecycle(sub: Subscription, event: LifecycleEvent): Promise<number | null> {
    if (!sub.lifecycleNotificationUrl) return null;
    const body = {
      value: [
        {
          subscriptionId: sub.id,
          subscriptionExpirationDateTime: new Date(sub.expires).toISOString(),
          tenantId: opts.tenantId,
          clientState: sub.clientState ?? null,
          lifecycleEvent: event,
        },
      ],
    };
    const r = await track(
      post(sub.lifecycleNotificationUrl, JSON.stringify(body), 'application/json; charset=utf-8', opts.notificationTimeoutMs),
    );
    const ok = r.status >= 200 && r.status < 300 && r.ms <= opts.notificationTimeoutMs;
    notifications.push({
      kind: 'lifecycle',
      subscriptionId: sub.id,
      url: sub.lifecycleNotificationUrl,
      lifecycleEvent: event,
      status: r.status,
      ms: r.ms,
      ok,
      ...(r.error ? { error: r.error } : {}),
      body,
    });
    return r.status;
  }

  // ----- subscriptions -----

  function alive(sub: Subscription): boolean {
    if (!subscriptions.has(sub.id)) return false;
    if (Date.now() >= sub.expires) {
      subscriptions.delete(sub.id);
      return false;
    }
    return true;
  }

  function subscriptionJson(sub: Subscription): Record<string, unknown> {
    return {
      '@odata.context': `${deps.origin()}/v1.0/$metadata#subscriptions/$entity`,
      id: sub.id,
      resource: sub.resource,
      applicationId: sub.applicationId,
      changeType: sub.changeType,
      clientState: sub.clientState ?? null,
      notificationUrl: sub.notificationUrl,
      notificationQueryOptions: null,
      lifecycleNotificationUrl: sub.lifecycleNotificationUrl ?? null,
      expirationDateTime: new Date(sub.expires).toISOString(),
      creatorId: sub.creatorId,
      includeResourceData: false,
      latestSupportedTlsVersion: sub.latestSupportedTlsVersion,
      encryptionCertificate: null,
      encryptionCertificateId: null,
      notificationUrlAppId: null,
    };
  }

  /** `users/{x}/mailFolders('{f}')/messages`, `.../mailFolders/{f}/messages`, `.../messages`, `me/...`. */
  function parseResource(resource: string, caller: Caller): { mb: Mailbox; folder: Folder | null } {
    const m = /^\/?(me|users(?:\/([^/()]+)|\('([^']+)'\)))\/(?:mailfolders(?:\('([^']+)'\)|\/([^/()]+))\/)?messages\/?$/i.exec(resource);
    if (!m) {
      throw new HttpError(
        400,
        'InvalidRequest',
        `Resource '${resource}' is not supported here (modelled: me|users/{id}/mailFolders('{id}')/messages, me|users/{id}/messages).`,
      );
    }
    let mb: Mailbox;
    if (lower(m[1]!) === 'me') {
      if (caller.kind === 'app') throw new HttpError(400, 'BadRequest', '/me request is only valid with delegated authentication flow.');
      mb = mailboxFor(caller.upn);
    } else {
      mb = mailboxByRef(decodeURIComponent(m[2] ?? m[3]!));
    }
    if (caller.kind === 'delegated' && lower(caller.upn) !== mb.key) {
      throw new HttpError(
        403,
        'ExtensionError',
        "Operation: Create; Exception: [Status Code: Forbidden; Reason: Delegated permissions only allow subscriptions to the signed-in user's mailbox.]",
      );
    }
    const folderRef = m[4] ?? m[5];
    if (folderRef === undefined) return { mb, folder: null };
    const folder = findFolder(mb, decodeURIComponent(folderRef));
    if (!folder) throw notFound();
    return { mb, folder };
  }

  function checkNotificationUrl(name: string, value: unknown): string {
    if (typeof value !== 'string' || !value) throw new HttpError(400, 'InvalidRequest', `${name} is required.`);
    let u: URL;
    try {
      u = new URL(value);
    } catch {
      throw new HttpError(400, 'InvalidRequest', `${name} is not a valid URL.`);
    }
    const loopback = ['127.0.0.1', '[::1]', 'localhost'].includes(u.hostname);
    if (u.protocol !== 'https:' && !(u.protocol === 'http:' && loopback)) {
      throw new HttpError(400, 'ValidationError', `${name} must use the https scheme (http is allowed here for loopback only).`);
    }
    return value;
  }

  /** expirationDateTime → ms since epoch, with the documented limits. */
  function expiration(value: unknown): number {
    const t = typeof value === 'string' ? Date.parse(value) : NaN;
    if (!Number.isFinite(t)) throw new HttpError(400, 'InvalidRequest', 'expirationDateTime is required (an ISO 8601 date).');
    const now = Date.now();
    if (t <= now) throw new HttpError(400, 'ExtensionError', 'Subscription expiration must be in the future.');
    if (t > now + opts.maxSubscriptionMinutes * 60_000) {
      throw new HttpError(
        400,
        'ExtensionError',
        `Subscription expiration can only be ${opts.maxSubscriptionMinutes} minutes in the future.`,
      );
    }
    return Math.max(t, now + 45 * 60_000);
  }

  function getSubscription(id: string, caller: Caller): Subscription {
    const sub = subscriptions.get(id);
    if (!sub || !alive(sub) || (caller.kind === 'delegated' && sub.creatorUpn !== lower(caller.upn))) {
      throw new HttpError(404, 'ResourceNotFound', `The object was not found. (subscription ${id})`);
    }
    return sub;
  }

  async function handleSubscriptions(req: IncomingMessage, res: ServerResponse, path: string, caller: Caller): Promise<void> {
    const method = req.method ?? 'GET';
    const idKind = idKindOf(req);
    const m = /^\/subscriptions(?:\/([^/]+))?(\/reauthorize)?\/?$/i.exec(path);
    if (!m) throw new HttpError(400, 'BadRequest', `Resource not found for the segment '${path}'.`);
    const id = m[1] ? decodeURIComponent(m[1]) : undefined;
    if (!id) {
      if (method === 'GET') {
        await drain(req);
        const value = [...subscriptions.values()]
          .filter((s) => alive(s) && (caller.kind === 'app' || s.creatorUpn === lower(caller.upn)))
          .map(subscriptionJson);
        return sendJson(res, 200, { value });
      }
      if (method !== 'POST') throw new HttpError(405, 'BadRequest', 'Method not allowed.');
      const body = await readJson(req);
      if (typeof body.changeType !== 'string' || !body.changeType) throw new HttpError(400, 'InvalidRequest', 'changeType is required.');
      const changeTypes = new Set(body.changeType.split(',').map((s: string) => s.trim()));
      for (const t of changeTypes) {
        if (!['created', 'updated', 'deleted'].includes(t as string))
          throw new HttpError(400, 'InvalidRequest', `Invalid changeType '${String(t)}'.`);
      }
      const notificationUrl = checkNotificationUrl('notificationUrl', body.notificationUrl);
      const lifecycleNotificationUrl =
        body.lifecycleNotificationUrl === undefined || body.lifecycleNotificationUrl === null
          ? undefined
          : checkNotificationUrl('lifecycleNotificationUrl', body.lifecycleNotificationUrl);
      if (typeof body.resource !== 'string' || !body.resource) throw new HttpError(400, 'InvalidRequest', 'resource is required.');
      const { mb, folder } = parseResource(body.resource, caller);
      const expires = expiration(body.expirationDateTime);
      if (
        body.clientState !== undefined &&
        body.clientState !== null &&
        (typeof body.clientState !== 'string' || body.clientState.length > 128)
      ) {
        throw new HttpError(400, 'InvalidRequest', 'clientState may have at most 128 characters.');
      }
      const tls = body.latestSupportedTlsVersion ?? 'v1_2';
      if (!['v1_0', 'v1_1', 'v1_2', 'v1_3'].includes(tls))
        throw new HttpError(400, 'InvalidRequest', `Invalid latestSupportedTlsVersion '${tls}'.`);
      if (body.includeResourceData === true) {
        if (!body.encryptionCertificate)
          throw new HttpError(400, 'InvalidRequest', 'encryptionCertificate is required when includeResourceData is true.');
        throw new HttpError(501, 'notSupported', 'Notifications with resource data are not modelled by this test server.');
      }
      const subId = randomUUID();
      if (
        !(await validate(notificationUrl, subId)) ||
        (lifecycleNotificationUrl !== undefined && !(await validate(lifecycleNotificationUrl, subId)))
      ) {
        throw new HttpError(
          400,
          'ValidationError',
          'Subscription validation request failed. Notification endpoint must respond with 200 OK to validation request.',
        );
      }
      const sub: Subscription = {
        id: subId,
        resource: body.resource,
        changeType: body.changeType,
        changeTypes: changeTypes as Set<string>,
        notificationUrl,
        lifecycleNotificationUrl,
        clientState: typeof body.clientState === 'string' ? body.clientState : undefined,
        latestSupportedTlsVersion: tls,
        expires,
        applicationId: (caller.kind === 'app' && caller.appId) || opts.appId,
        creatorId: caller.kind === 'app' ? servicePrincipalId : mailboxFor(caller.upn).userId,
        creatorUpn: caller.kind === 'delegated' ? lower(caller.upn) : undefined,
        idKind,
        mailboxKey: mb.key,
        folderId: folder?.id ?? null,
        paused: false,
      };
      subscriptions.set(sub.id, sub);
      return sendJson(res, 201, subscriptionJson(sub));
    }
    const sub = getSubscription(id, caller);
    if (m[2]) {
      if (method !== 'POST') throw new HttpError(405, 'BadRequest', 'Method not allowed.');
      await drain(req);
      sub.paused = false;
      return sendJson(res, 204, undefined);
    }
    if (method === 'GET') {
      await drain(req);
      return sendJson(res, 200, subscriptionJson(sub));
    }
    if (method === 'DELETE') {
      await drain(req);
      subscriptions.delete(sub.id);
      return sendJson(res, 204, undefined);
    }
    if (method === 'PATCH') {
      const body = await readJson(req);
      const extra = Object.keys(body).filter((k) => k !== 'expirationDateTime');
      if (extra.length)
        throw new HttpError(400, 'InvalidRequest', `Only expirationDateTime can be updated here (got ${extra.join(', ')}).`);
      sub.expires = expiration(body.expirationDateTime);
      sub.paused = false; // "renewing your subscription also reauthorizes"
      return sendJson(res, 200, subscriptionJson(sub));
    }
    throw new HttpError(405, 'BadRequest', 'Method not allowed.');
  }

  // ----- request plumbing -----

  function idKindOf(req: IncomingMessage): IdKind {
    return lower(preferences(req).idtype ?? '') === 'immutableid' ? 'immutable' : 'regular';
  }

  function appliedHeaders(req: IncomingMessage, extra: string[] = []): Record<string, string> {
    const applied = [...(idKindOf(req) === 'immutable' ? ['IdType="ImmutableId"'] : []), ...extra];
    return applied.length ? { 'preference-applied': applied.join(', ') } : {};
  }

  /** `/users/{x}`: a known user id (GUID), or a UPN (its mailbox is created on first use). */
  function mailboxByRef(ref: string): Mailbox {
    const byId = byUserId.get(lower(ref)) ?? byUserId.get(ref);
    if (byId) return byId;
    if (ref.includes('@')) return mailboxFor(ref);
    throw new HttpError(404, 'ErrorInvalidUser', `The requested user '${ref}' is invalid.`);
  }

  function checkAccess(caller: Caller, mb: Mailbox): void {
    if (caller.kind === 'app') return;
    const me = lower(caller.upn);
    if (me === mb.key || grants.has(`${me}\n${mb.key}`)) return;
    throw new HttpError(403, 'ErrorAccessDenied', 'Access is denied. Check credentials and try again.');
  }

  function throttle(mb: Mailbox, limit: OutlookLimit, message: string, retryAfterSeconds: number): never {
    mb.throttled[limit]++;
    throw new HttpError(429, 'ApplicationThrottled', message, { 'retry-after': String(Math.max(1, Math.ceil(retryAfterSeconds))) });
  }

  /**
   * Charges `bytes` uploaded to the mailbox's window, or answers 429 when they would take it over
   * the limit, with the seconds until the oldest uploads have left enough room.
   */
  function chargeUpload(mb: Mailbox, bytes: number): void {
    if (opts.uploadBytes === false || bytes <= 0) return;
    const t = Date.now();
    mb.uploads = mb.uploads.filter((u) => u.at > t - opts.uploadWindowMs);
    let used = mb.uploads.reduce((n, u) => n + u.bytes, 0);
    if (used + bytes > opts.uploadBytes) {
      let freeAt = t;
      for (const u of mb.uploads) {
        if (used === 0 || used + bytes <= opts.uploadBytes) break;
        used -= u.bytes;
        freeAt = u.at + opts.uploadWindowMs;
      }
      throttle(mb, 'uploadBytes', 'Application is over its IncomingBytes limit.', (freeAt - t) / 1000);
    }
    mb.uploads.push({ at: t, bytes });
  }

  /**
   * Admits a request to the mailbox's mail under Outlook's limits: one of its concurrent slots,
   * held until the answer is finished or the connection closed; its place among the window's
   * requests; its body's bytes among the window's uploads.
   */
  function admit(mb: Mailbox, req: IncomingMessage, res: ServerResponse): void {
    const t = Date.now();
    if (opts.requests !== false) {
      mb.requestTimes = mb.requestTimes.filter((at) => at > t - opts.requestWindowMs);
      if (mb.requestTimes.length >= opts.requests) {
        throttle(
          mb,
          'requests',
          'Application is over its limit of requests to this mailbox in the window.',
          (mb.requestTimes[0]! + opts.requestWindowMs - t) / 1000,
        );
      }
    }
    if (opts.concurrency !== false && mb.inFlight >= opts.concurrency) {
      throttle(mb, 'concurrency', 'Application is over its MailboxConcurrency limit.', opts.retryAfter);
    }
    if (['POST', 'PUT', 'PATCH'].includes(req.method ?? 'GET')) chargeUpload(mb, Number(req.headers['content-length'] ?? 0));
    if (opts.requests !== false) mb.requestTimes.push(t);
    mb.inFlight++;
    mb.maxInFlight = Math.max(mb.maxInFlight, mb.inFlight);
    res.once('close', () => mb.inFlight--);
  }

  function parseSelect(url: URL, allowed: string[], type: string): string[] | undefined {
    const raw = url.searchParams.get('$select');
    if (raw === null) return undefined;
    const out: string[] = [];
    for (const part of raw.split(',')) {
      const p = part.trim();
      if (!p) continue;
      const canon = allowed.find((a) => lower(a) === lower(p));
      if (!canon) throw new HttpError(400, 'RequestBroker--ParseUri', `Could not find a property named '${p}' on type '${type}'.`);
      out.push(canon);
    }
    return out;
  }

  function parseAttachmentSelect(raw: string | null): Set<string> | undefined {
    if (raw === null) return undefined;
    const out = new Set<string>();
    for (const part of raw.split(',')) {
      const p = part.trim().replace(/^microsoft\.graph\.(?:file|item|reference)attachment\//i, '');
      if (!p) continue;
      const canon = ATTACHMENT_PROPS.find((a) => lower(a) === lower(p));
      if (!canon)
        throw new HttpError(
          400,
          'RequestBroker--ParseUri',
          `Could not find a property named '${part.trim()}' on type 'microsoft.graph.attachment'.`,
        );
      out.add(canon);
    }
    return out;
  }

  function parseExpand(url: URL): { attachments: boolean; select?: Set<string> } | undefined {
    const raw = url.searchParams.get('$expand');
    if (raw === null) return undefined;
    const m = /^\s*attachments\s*(?:\(\s*\$select\s*=\s*([^)]*)\))?\s*$/i.exec(raw);
    if (!m) throw new HttpError(501, 'notSupported', `$expand=${raw} is not modelled by this test server (only attachments).`);
    return { attachments: true, select: m[1] !== undefined ? parseAttachmentSelect(m[1]) : undefined };
  }

  function intParam(url: URL, name: string, def: number, min: number, max: number): number {
    const raw = url.searchParams.get(name);
    if (raw === null) return def;
    const n = Number(raw);
    if (!Number.isInteger(n) || n < min || n > max) throw new HttpError(400, 'BadRequest', `Invalid value '${raw}' for ${name}.`);
    return n;
  }

  function nextLink(url: URL, skip: number): string {
    const params: string[] = [];
    for (const [k, v] of url.searchParams) if (k !== '$skip') params.push(`${k}=${encodeURIComponent(v)}`);
    params.push(`$skip=${skip}`);
    return `${deps.origin()}${url.pathname}?${params.join('&')}`;
  }

  function page<T>(url: URL, items: T[], defaultTop: number, maxTop: number): { items: T[]; next?: string } {
    const top = intParam(url, '$top', defaultTop, 1, maxTop);
    const skip = intParam(url, '$skip', 0, 0, Number.MAX_SAFE_INTEGER);
    const slice = items.slice(skip, skip + top);
    return { items: slice, ...(skip + top < items.length ? { next: nextLink(url, skip + top) } : {}) };
  }

  function filterMessages(url: URL, list: Message[]): Message[] {
    const raw = url.searchParams.get('$filter');
    if (url.searchParams.has('$search')) throw new HttpError(501, 'notSupported', '$search is not modelled by this test server.');
    if (raw === null) return list;
    const tests: ((m: Message) => boolean)[] = [];
    for (const clause of raw.split(/\s+and\s+/i)) {
      let m: RegExpExecArray | null;
      if ((m = /^\s*(isRead|hasAttachments)\s+eq\s+(true|false)\s*$/i.exec(clause))) {
        const want = lower(m[2]!) === 'true';
        const prop = lower(m[1]!);
        tests.push((x) => (prop === 'isread' ? x.isRead : x.attachments.some((a) => !a.isInline)) === want);
      } else if ((m = /^\s*internetMessageId\s+eq\s+'((?:[^']|'')*)'\s*$/i.exec(clause))) {
        const want = m[1]!.replace(/''/g, "'");
        tests.push((x) => x.internetMessageId === want);
      } else if ((m = /^\s*receivedDateTime\s+(ge|gt|le|lt)\s+(\S+)\s*$/i.exec(clause))) {
        const t = Date.parse(m[2]!);
        if (!Number.isFinite(t)) throw new HttpError(400, 'BadRequest', `Invalid date in $filter: ${m[2]}`);
        const op = lower(m[1]!);
        tests.push((x) => {
          const r = Date.parse(x.received);
          return op === 'ge' ? r >= t : op === 'gt' ? r > t : op === 'le' ? r <= t : r < t;
        });
      } else {
        throw new HttpError(501, 'notSupported', `$filter clause '${clause}' is not modelled by this test server.`);
      }
    }
    return list.filter((x) => tests.every((t) => t(x)));
  }

  /** `$orderby` (default receivedDateTime desc, the Outlook default). */
  function sortMessages(orderby: string | null, list: Message[]): Message[] {
    const raw = orderby ?? 'receivedDateTime desc';
    const m = /^\s*(receivedDateTime|sentDateTime|createdDateTime|lastModifiedDateTime|subject)(?:\s+(asc|desc))?\s*$/i.exec(raw);
    if (!m) throw new HttpError(501, 'notSupported', `$orderby=${raw} is not modelled by this test server.`);
    const prop = lower(m[1]!);
    const dir = lower(m[2] ?? 'asc') === 'desc' ? -1 : 1;
    const key = (x: Message) =>
      prop === 'subject'
        ? x.subject
        : prop === 'sentdatetime'
          ? (x.sent ?? x.received)
          : prop === 'createddatetime'
            ? x.created
            : prop === 'lastmodifieddatetime'
              ? x.modified
              : x.received;
    return [...list].sort((a, b) => (key(a) < key(b) ? -dir : key(a) > key(b) ? dir : 0));
  }

  function validateRecipients(message: any): void {
    const all = [...(message?.toRecipients ?? []), ...(message?.ccRecipients ?? []), ...(message?.bccRecipients ?? [])];
    if (
      all.length === 0 ||
      !all.every((r: any) => typeof r?.emailAddress?.address === 'string' && /^[^@\s]+@[^@\s]+$/.test(r.emailAddress.address))
    ) {
      throw new HttpError(400, 'ErrorInvalidRecipients', 'At least one recipient is not valid.');
    }
  }

  function decodeAttachments(list: unknown): SentAttachment[] {
    if (list === undefined) return [];
    if (!Array.isArray(list)) throw new HttpError(400, 'RequestBodyRead', 'attachments must be an array.');
    return list.map((a: any) => {
      if (a?.['@odata.type'] !== '#microsoft.graph.fileAttachment')
        throw new HttpError(400, 'RequestBodyRead', 'Only #microsoft.graph.fileAttachment is modelled.');
      if (typeof a.name !== 'string' || !a.name) throw new HttpError(400, 'ErrorInvalidRequest', 'An attachment needs a name.');
      if (typeof a.contentBytes !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(a.contentBytes)) {
        throw new HttpError(400, 'ErrorInvalidRequest', 'contentBytes must be base64.');
      }
      return { name: a.name, contentType: a.contentType, content: Buffer.from(a.contentBytes, 'base64') };
    });
  }

  function stripContent(message: any): any {
    const copy = { ...message };
    if (Array.isArray(copy.attachments)) copy.attachments = copy.attachments.map(({ contentBytes: _c, ...rest }: any) => rest);
    return copy;
  }

  function storedFileAttachment(a: SentAttachment & { isInline?: boolean; contentId?: string }): Attachment {
    return makeAttachment({
      kind: 'file',
      name: a.name,
      contentType: a.contentType,
      content: a.content,
      isInline: a.isInline,
      contentId: a.contentId,
    });
  }

  /** A message from request JSON (a draft or a sendMail copy). */
  function messageFields(mb: Mailbox, body: any): Partial<Message> {
    const sender: Recipient = { emailAddress: { name: mb.upn, address: mb.upn } };
    const b = body?.body;
    return {
      subject: typeof body?.subject === 'string' ? body.subject : '',
      body: {
        contentType: typeof b?.contentType === 'string' && lower(b.contentType) === 'html' ? 'html' : 'text',
        content: typeof b?.content === 'string' ? b.content : '',
      },
      toRecipients: recipientsFrom(body?.toRecipients, 'toRecipients'),
      ccRecipients: recipientsFrom(body?.ccRecipients, 'ccRecipients'),
      bccRecipients: recipientsFrom(body?.bccRecipients, 'bccRecipients'),
      replyTo: recipientsFrom(body?.replyTo, 'replyTo'),
      from: body?.from?.emailAddress?.address ? recipientsFrom([body.from], 'from')[0] : sender,
      sender,
      categories: Array.isArray(body?.categories) ? body.categories.filter((c: unknown) => typeof c === 'string') : [],
      importance: typeof body?.importance === 'string' ? lower(body.importance) : 'normal',
    };
  }

  function sendResponse(
    req: IncomingMessage,
    res: ServerResponse,
    status: number,
    body: unknown,
    extraApplied: string[] = [],
    headers: Record<string, string> = {},
  ): void {
    sendJson(res, status, body, { ...appliedHeaders(req, extraApplied), ...headers });
  }

  // ----- routes -----

  async function handle(
    req: IncomingMessage,
    res: ServerResponse,
    url: URL,
    path: string,
    caller: Caller,
    log: { bodyBytes: number },
  ): Promise<boolean> {
    try {
      if (/^\/subscriptions(\/|$)/i.test(path)) {
        await handleSubscriptions(req, res, path, caller);
        return true;
      }
      const u = /^\/(?:me|users\/([^/]+))\/?$/i.exec(path);
      if (u && (req.method ?? 'GET') === 'GET') {
        // The user (user-get): enough to map the GUID of a notification's resource to a UPN.
        await drain(req);
        const mb = u[1] === undefined ? mailboxFor((caller as { upn: string }).upn) : mailboxByRef(decodeSegment(u[1]));
        const full = { id: mb.userId, userPrincipalName: mb.upn, mail: mb.upn, displayName: mb.upn.split('@')[0] };
        const select = parseSelect(url, Object.keys(full), 'microsoft.graph.user');
        sendJson(res, 200, select ? pick(full, select) : full);
        return true;
      }
      const m = /^\/(me|users\/([^/]+))(\/(?:sendMail|mailFolders|messages)\b.*)$/i.exec(path);
      if (!m) return false;
      let mb: Mailbox;
      if (m[2] === undefined) {
        if (caller.kind === 'app') throw new HttpError(400, 'BadRequest', '/me request is only valid with delegated authentication flow.');
        mb = mailboxFor(caller.upn);
      } else {
        mb = mailboxByRef(decodeSegment(m[2]));
      }
      checkAccess(caller, mb);
      admit(mb, req, res);
      if (opts.answerDelayMs > 0) await new Promise((r) => setTimeout(r, opts.answerDelayMs));
      // OData key syntax: mailFolders('x') → mailFolders, x
      const segs = m[3]!
        .split('/')
        .slice(1)
        .map(decodeSegment)
        .flatMap((seg) => {
          const k = /^(mailFolders|childFolders|messages|attachments)\('(.*)'\)$/i.exec(seg);
          return k ? [k[1]!, k[2]!.replace(/''/g, "'")] : [seg];
        });
      await route(req, res, url, mb, segs, log);
      return true;
    } catch (e) {
      await drain(req);
      throw e;
    }
  }

  function decodeSegment(s: string): string {
    try {
      return decodeURIComponent(s);
    } catch {
      throw new HttpError(400, 'BadRequest', 'Malformed path.');
    }
  }

  const is = (s: string | undefined, word: string) => s !== undefined && lower(s) === lower(word);

  async function route(
    req: IncomingMessage,
    res: ServerResponse,
    url: URL,
    mb: Mailbox,
    segs: string[],
    log: { bodyBytes: number },
  ): Promise<void> {
    const method = req.method ?? 'GET';
    if (segs.length === 1 && is(segs[0], 'sendMail')) {
      if (method !== 'POST') throw new HttpError(405, 'BadRequest', 'Method not allowed.');
      return sendMail(req, res, mb, log);
    }
    let i = 0;
    let folder: Folder | undefined;
    if (is(segs[0], 'mailFolders')) {
      if (segs.length === 1) return folderCollection(req, res, url, mb, root(mb));
      folder = findFolder(mb, segs[1]!);
      if (!folder) throw notFound();
      i = 2;
      while (is(segs[i], 'childFolders')) {
        if (segs.length === i + 1) return folderCollection(req, res, url, mb, folder);
        const child = mb.folders.get(segs[i + 1]!) ?? findFolder(mb, segs[i + 1]!);
        if (!child || child.parentId !== folder.id) throw notFound();
        folder = child;
        i += 2;
      }
      if (segs.length === i) {
        if (method !== 'GET') throw new HttpError(405, 'BadRequest', 'Method not allowed (folders: GET only here).');
        await drain(req);
        return sendResponse(req, res, 200, folderJson(mb, folder, parseSelect(url, FOLDER_PROPS, 'microsoft.graph.mailFolder')));
      }
      if (!is(segs[i], 'messages')) throw new HttpError(400, 'BadRequest', `Resource not found for the segment '${segs[i]}'.`);
    } else if (!is(segs[0], 'messages')) {
      throw new HttpError(400, 'BadRequest', `Resource not found for the segment '${segs[0]}'.`);
    }
    // segs[i] === 'messages'
    const after = segs.slice(i + 1);
    if (after.length === 0) {
      if (method === 'GET') return messageCollection(req, res, url, mb, folder);
      if (method === 'POST' && !folder) return createDraft(req, res, mb);
      throw new HttpError(405, 'BadRequest', 'Method not allowed.');
    }
    if (after.length === 1 && (is(after[0], 'delta') || is(after[0], 'microsoft.graph.delta'))) {
      if (!folder) throw new HttpError(400, 'BadRequest', 'Delta query is a per-folder operation: use /mailFolders/{id}/messages/delta.');
      if (method !== 'GET') throw new HttpError(405, 'BadRequest', 'Method not allowed.');
      await drain(req);
      return delta(req, res, url, mb, folder);
    }
    const msg = findMessage(mb, after[0]!);
    if (!msg || (folder && msg.folderId !== folder.id)) throw notFound();
    return messageRoute(
      req,
      res,
      url,
      mb,
      msg,
      after.slice(1).map((s) => s.replace(/^microsoft\.graph\./i, '')),
    );
  }

  async function folderCollection(req: IncomingMessage, res: ServerResponse, url: URL, mb: Mailbox, parent: Folder): Promise<void> {
    const method = req.method ?? 'GET';
    if (method === 'POST') {
      const body = await readJson(req);
      if (typeof body.displayName !== 'string' || !body.displayName.trim()) {
        throw new HttpError(400, 'ErrorInvalidParameter', "The value of the parameter 'DisplayName' is empty.");
      }
      const f = createFolder(mb, parent, body.displayName);
      return sendResponse(req, res, 201, folderJson(mb, f));
    }
    if (method !== 'GET') throw new HttpError(405, 'BadRequest', 'Method not allowed.');
    await drain(req);
    let list = children(mb, parent);
    const filter = url.searchParams.get('$filter');
    if (filter !== null) {
      const fm = /^\s*displayName\s+eq\s+'((?:[^']|'')*)'\s*$/i.exec(filter);
      if (!fm)
        throw new HttpError(501, 'notSupported', `$filter=${filter} is not modelled by this test server (only displayName eq '...').`);
      const want = lower(fm[1]!.replace(/''/g, "'"));
      list = list.filter((f) => lower(f.displayName) === want);
    }
    const select = parseSelect(url, FOLDER_PROPS, 'microsoft.graph.mailFolder');
    const p = page(url, list, 10, 1000);
    return sendResponse(req, res, 200, {
      value: p.items.map((f) => folderJson(mb, f, select)),
      ...(p.next ? { '@odata.nextLink': p.next } : {}),
    });
  }

  async function messageCollection(
    req: IncomingMessage,
    res: ServerResponse,
    url: URL,
    mb: Mailbox,
    folder: Folder | undefined,
  ): Promise<void> {
    await drain(req);
    const kind = idKindOf(req);
    const select = parseSelect(url, MESSAGE_PROPS, 'Microsoft.OutlookServices.Message');
    const expand = parseExpand(url);
    const all = folder ? folderMessages(mb, folder) : [...mb.messages.values()].filter((x) => !mb.folders.get(x.folderId)!.outsideIpm);
    const list = sortMessages(url.searchParams.get('$orderby'), filterMessages(url, all));
    const p = page(url, list, 10, 1000);
    return sendResponse(req, res, 200, {
      value: p.items.map((x) => messageJson(x, kind, select, expand)),
      ...(p.next ? { '@odata.nextLink': p.next } : {}),
    });
  }

  async function sendMail(req: IncomingMessage, res: ServerResponse, mb: Mailbox, log: { bodyBytes: number }): Promise<void> {
    const buf = await readBody(req, deps.limits.maxSendMailBytes, 'RequestEntityTooLarge');
    log.bodyBytes = buf.length;
    let body: any;
    try {
      body = JSON.parse(buf.toString('utf8'));
    } catch {
      throw new HttpError(400, 'BadRequest', 'Unable to read JSON request payload.');
    }
    if (!body?.message || typeof body.message !== 'object')
      throw new HttpError(400, 'ErrorInvalidParameter', "The value of the parameter 'Message' is empty.");
    validateRecipients(body.message);
    const attachments = decodeAttachments(body.message.attachments);
    const saveToSentItems = body.saveToSentItems !== false;
    sentMail.push({ from: mb.upn, message: stripContent(body.message), saveToSentItems, attachments, via: 'sendMail' });
    mb.sentTimes.push(Date.now());
    if (saveToSentItems) {
      const t = graphDate();
      const copy = newMessage(mb, wellKnown(mb, 'sentitems'), {
        ...messageFields(mb, body.message),
        isRead: true,
        sent: t,
        received: t,
        attachments: ((body.message.attachments ?? []) as any[]).map((a: any, k: number) =>
          storedFileAttachment({ ...attachments[k]!, isInline: a.isInline === true, contentId: a.contentId }),
        ),
      });
      changed(mb, { kind: 'created', message: copy });
    }
    sendJson(res, 202, undefined);
  }

  async function createDraft(req: IncomingMessage, res: ServerResponse, mb: Mailbox): Promise<void> {
    const body = await readJson(req, deps.limits.maxSendMailBytes);
    const attachments = decodeAttachments(body.attachments);
    const m = newMessage(mb, wellKnown(mb, 'drafts'), {
      ...messageFields(mb, body),
      isDraft: true,
      isRead: true,
      attachments: attachments.map((a) => storedFileAttachment(a)),
      original: stripContent(body),
    });
    changed(mb, { kind: 'created', message: m });
    return sendResponse(req, res, 201, messageJson(m, idKindOf(req)));
  }

  async function messageRoute(req: IncomingMessage, res: ServerResponse, url: URL, mb: Mailbox, m: Message, sub: string[]): Promise<void> {
    const method = req.method ?? 'GET';
    const kind = idKindOf(req);
    const action = sub.length === 1 ? lower(sub[0]!) : sub.length === 0 ? '' : undefined;
    if (action === '' && method === 'GET') {
      await drain(req);
      return sendResponse(
        req,
        res,
        200,
        messageJson(m, kind, parseSelect(url, MESSAGE_PROPS, 'Microsoft.OutlookServices.Message'), parseExpand(url)),
      );
    }
    if (action === '' && method === 'PATCH') return patchMessage(req, res, mb, m);
    if (action === '' && method === 'DELETE') {
      await drain(req);
      const deletions = wellKnown(mb, 'recoverableitemsdeletions');
      if (m.folderId === deletions.id) throw new HttpError(400, 'ErrorCannotDeleteObject', 'Object cannot be deleted.');
      moveMessage(mb, m, deletions);
      return sendJson(res, 204, undefined);
    }
    if (action === '$value' && method === 'GET') {
      await drain(req);
      res.writeHead(200, { 'content-type': 'message/rfc822', 'request-id': randomUUID() });
      return streamOut(res, messageMime(m));
    }
    if ((action === 'move' || action === 'copy') && method === 'POST') {
      const body = await readJson(req);
      if (typeof body.destinationId !== 'string' || !body.destinationId)
        throw new HttpError(400, 'ErrorInvalidParameter', "The value of the parameter 'DestinationId' is empty.");
      const dest = findFolder(mb, body.destinationId);
      if (!dest || dest.wellKnown === 'msgfolderroot' || dest.wellKnown === 'recoverableitemsroot') {
        throw new HttpError(404, 'ErrorItemNotFound', 'The specified folder could not be found in the store.');
      }
      if (action === 'move') {
        moveMessage(mb, m, dest);
        return sendResponse(req, res, 201, messageJson(m, kind));
      }
      const copy = newMessage(mb, dest, {
        ...m,
        immutableId: outlookId('AAkALgAAAAAAHYQDEapmEc2byACqAC'),
        regularId: outlookId('AAMkADNkNAAA'),
        folderId: dest.id,
        attachments: m.attachments.map((a) => ({ ...a, id: outlookId('AAMkADNkNAAABEgAQA') })),
        categories: [...m.categories],
        version: 1,
      });
      changed(mb, { kind: 'created', message: copy });
      return sendResponse(req, res, 201, messageJson(copy, kind));
    }
    if (action === 'permanentdelete' && method === 'POST') {
      await drain(req);
      mb.permanentlyDeleted.push(m.internetMessageId);
      removeMessage(mb, m);
      return sendJson(res, 204, undefined);
    }
    if (action === 'send' && method === 'POST') {
      await drain(req);
      if (!m.isDraft) throw new HttpError(404, 'ErrorItemNotFound', 'The message was already sent.');
      validateRecipients(m.original ?? messageJson(m, 'regular'));
      const bodySize = Buffer.byteLength(JSON.stringify(m.original ?? {}));
      const total = m.attachments.reduce((n, a) => n + a.size, bodySize);
      if (total > deps.limits.maxMessageBytes)
        throw new HttpError(
          413,
          'ErrorMessageSizeExceeded',
          `The message exceeds the maximum size of ${deps.limits.maxMessageBytes} bytes.`,
        );
      sentMail.push({
        from: mb.upn,
        message: m.original ?? messageJson(m, 'regular'),
        saveToSentItems: true,
        attachments: m.attachments
          .filter((a) => a.kind === 'file')
          .map((a) => ({ name: a.name, contentType: a.contentType ?? undefined, content: concat(a.chunks, a.size) })),
        via: 'draft',
      });
      mb.sentTimes.push(Date.now());
      m.isDraft = false;
      m.sent = graphDate();
      m.received = m.sent;
      moveMessage(mb, m, wellKnown(mb, 'sentitems'));
      return sendJson(res, 202, undefined);
    }
    if (is(sub[0], 'attachments')) return attachmentRoute(req, res, url, mb, m, sub.slice(1));
    throw new HttpError(400, 'BadRequest', `Unsupported message request: ${method} .../${sub.join('/')}`);
  }

  async function patchMessage(req: IncomingMessage, res: ServerResponse, mb: Mailbox, m: Message): Promise<void> {
    const body = await readJson(req);
    for (const k of Object.keys(body)) {
      if (k.startsWith('@odata.')) continue;
      if (PATCHABLE_DRAFT.includes(k)) {
        if (!m.isDraft)
          throw new HttpError(400, 'ErrorInvalidPropertyUpdateSentMessage', 'Update operation is invalid for property of a sent message.');
        continue;
      }
      if (!PATCHABLE.includes(k))
        throw new HttpError(
          400,
          'RequestBodyRead',
          `The property '${k}' cannot be updated here (modelled: ${[...PATCHABLE, ...PATCHABLE_DRAFT].join(', ')}).`,
        );
    }
    if ('isRead' in body) {
      if (typeof body.isRead !== 'boolean') throw new HttpError(400, 'RequestBodyRead', 'isRead must be a boolean.');
      m.isRead = body.isRead;
    }
    if ('categories' in body) {
      if (!Array.isArray(body.categories) || !body.categories.every((c: unknown) => typeof c === 'string'))
        throw new HttpError(400, 'RequestBodyRead', 'categories must be an array of strings.');
      m.categories = [...body.categories];
    }
    if ('importance' in body) m.importance = lower(String(body.importance));
    if ('flag' in body) m.flag = body.flag;
    if ('inferenceClassification' in body) m.inferenceClassification = String(body.inferenceClassification);
    if (m.isDraft) {
      const f = messageFields(mb, { ...m.original, ...body });
      if ('subject' in body) m.subject = f.subject!;
      if ('body' in body) m.body = f.body!;
      for (const k of ['toRecipients', 'ccRecipients', 'bccRecipients', 'replyTo'] as const) if (k in body) m[k] = f[k]!;
      m.original = { ...m.original, ...body };
    }
    m.version++;
    m.modified = graphDate();
    changed(mb, { kind: 'updated', message: m });
    return sendResponse(req, res, 200, messageJson(m, idKindOf(req)));
  }

  async function attachmentRoute(
    req: IncomingMessage,
    res: ServerResponse,
    url: URL,
    mb: Mailbox,
    m: Message,
    sub: string[],
  ): Promise<void> {
    const method = req.method ?? 'GET';
    if (sub.length === 0) {
      if (method === 'GET') {
        await drain(req);
        const select = parseAttachmentSelect(url.searchParams.get('$select'));
        return sendResponse(req, res, 200, { value: m.attachments.map((a) => attachmentJson(a, select)) });
      }
      if (method === 'POST') {
        // Small attachments only: "If the file size is under 3 MB, do a single POST".
        const body = await readJson(req, 4 * MIB);
        const [a] = decodeAttachments([body]);
        if (a!.content.length >= 3 * 1000 * 1000)
          throw new HttpError(413, 'ErrorRequestEntityTooLarge', 'Attachments of 3 MB or more need an upload session.');
        const att = storedFileAttachment({ ...a!, isInline: body.isInline === true, contentId: body.contentId });
        m.attachments.push(att);
        m.version++;
        return sendResponse(
          req,
          res,
          201,
          attachmentJson(att, new Set(['name', 'size', 'contentType', 'isInline', 'lastModifiedDateTime', 'contentId'])),
        );
      }
      throw new HttpError(405, 'BadRequest', 'Method not allowed.');
    }
    if (sub.length === 1 && is(sub[0], 'createUploadSession')) {
      if (method !== 'POST') throw new HttpError(405, 'BadRequest', 'Method not allowed.');
      const body = await readJson(req);
      const ai = body?.AttachmentItem;
      if (!ai || ai.attachmentType !== 'file' || typeof ai.name !== 'string' || !ai.name || !Number.isInteger(ai.size) || ai.size <= 0) {
        throw new HttpError(400, 'ErrorInvalidRequest', "AttachmentItem { attachmentType: 'file', name, size } is required.");
      }
      if (ai.size > deps.limits.maxAttachmentBytes)
        throw new HttpError(413, 'ErrorAttachmentSizeExceeded', `Attachments may be at most ${deps.limits.maxAttachmentBytes} bytes.`);
      if (ai.size < deps.limits.minAttachmentSessionBytes)
        throw new HttpError(400, 'ErrorAttachmentSizeShouldNotBeLessThanMinimumSize', 'Use a plain POST for attachments under 3 MB.');
      return sendJson(
        res,
        201,
        deps.openAttachmentSession({ mailboxKey: mb.key, messageId: m.immutableId, name: ai.name, contentType: ai.contentType }, ai.size),
      );
    }
    const a = m.attachments.find((x) => x.id === sub[0]);
    if (!a) throw notFound();
    if (sub.length === 1 && method === 'GET') {
      await drain(req);
      const out = attachmentJson(a, parseAttachmentSelect(url.searchParams.get('$select')));
      const ex = url.searchParams.get('$expand');
      if (ex !== null) {
        if (!/^\s*microsoft\.graph\.itemattachment\/item\s*$/i.test(ex))
          throw new HttpError(501, 'notSupported', `$expand=${ex} is not modelled.`);
        if (a.item) {
          out.item = {
            '@odata.type': '#microsoft.graph.message',
            id: outlookId('AAMkADNkNAAA'),
            subject: a.item.subject,
            from: a.item.from,
            sender: a.item.from,
            toRecipients: a.item.toRecipients,
            receivedDateTime: a.item.received,
            body: { contentType: 'text', content: a.item.body },
            hasAttachments: false,
          };
        }
      }
      return sendResponse(req, res, 200, out);
    }
    if (sub.length === 1 && method === 'DELETE') {
      await drain(req);
      m.attachments = m.attachments.filter((x) => x !== a);
      m.version++;
      return sendJson(res, 204, undefined);
    }
    if (sub.length === 2 && is(sub[1], '$value') && method === 'GET') {
      await drain(req);
      if (a.kind === 'reference') throw new HttpError(400, 'ErrorInvalidRequest', 'A reference attachment has no content.');
      res.writeHead(200, {
        'content-type': a.kind === 'item' ? 'message/rfc822' : (a.contentType ?? 'application/octet-stream'),
        'content-length': a.size,
        'request-id': randomUUID(),
      });
      return streamOut(res, a.chunks);
    }
    throw new HttpError(400, 'BadRequest', `Unsupported attachment request: ${method} .../${sub.join('/')}`);
  }

  // ----- delta -----

  function snapshotOf(mb: Mailbox, folder: Folder): Map<string, { regularId: string; version: number }> {
    return new Map(folderMessages(mb, folder).map((m) => [m.immutableId, { regularId: m.regularId, version: m.version }]));
  }

  function deltaLinkUrl(path: string, token: string) {
    return `${deps.origin()}${path}?$deltatoken=${token}`;
  }

  function delta(req: IncomingMessage, res: ServerResponse, url: URL, mb: Mailbox, folder: Folder): void {
    const kind = idKindOf(req);
    const prefs = preferences(req);
    const maxPage = prefs['odata.maxpagesize'] !== undefined ? Number(prefs['odata.maxpagesize']) : undefined;
    const preferred = Number.isInteger(maxPage) && maxPage! > 0 ? maxPage : undefined;
    const pageSize = preferred ?? intParam(url, '$top', 10, 1, 1000);
    const applied = preferred ? [`odata.maxpagesize=${preferred}`] : [];
    const path = url.pathname;
    const skip = url.searchParams.get('$skiptoken');
    const dt = url.searchParams.get('$deltatoken');
    let paging: DeltaPaging;
    if (skip !== null) {
      const p = skipTokens.get(skip);
      if (!p || p.snapshot.mailboxKey !== mb.key || p.snapshot.folderId !== folder.id)
        throw new HttpError(400, 'ErrorInvalidSyncStateData', 'Synchronization state data is corrupt or otherwise invalid.');
      // Kept: a page whose answer was lost can be asked for again.
      checkGeneration(mb, p.snapshot, p.path);
      paging = { ...p, pageSize: preferred ?? p.pageSize };
    } else if (dt !== null) {
      const s = deltaTokens.get(dt);
      if (!s || s.mailboxKey !== mb.key || s.folderId !== folder.id)
        throw new HttpError(400, 'ErrorInvalidSyncStateData', 'Synchronization state data is corrupt or otherwise invalid.');
      checkGeneration(mb, s, path);
      const now = snapshotOf(mb, folder);
      const entries: DeltaEntry[] = [];
      const want = (t: string) => !s.changeType || s.changeType === t;
      for (const [id, seen] of s.seen) {
        const cur = now.get(id);
        if (!cur) {
          if (want('deleted')) entries.push({ kind: 'removed', immutableId: id, regularId: seen.regularId });
        } else if (cur.regularId !== seen.regularId && kind === 'regular') {
          if (want('deleted')) entries.push({ kind: 'removed', immutableId: id, regularId: seen.regularId });
          if (want('created')) entries.push({ kind: 'item', immutableId: id });
        } else if (cur.version !== seen.version) {
          if (want('updated')) entries.push({ kind: 'item', immutableId: id });
        }
      }
      for (const id of now.keys()) if (!s.seen.has(id) && want('created')) entries.push({ kind: 'item', immutableId: id });
      paging = { snapshot: { ...s, seen: now }, entries, pageSize, path };
    } else {
      const select = parseSelect(url, MESSAGE_PROPS, 'Microsoft.OutlookServices.Message');
      const changeType = url.searchParams.get('changeType') ?? undefined;
      if (changeType !== undefined && !['created', 'updated', 'deleted'].includes(changeType))
        throw new HttpError(400, 'BadRequest', `Invalid changeType '${changeType}'.`);
      const list = sortMessages(null, folderMessages(mb, folder));
      paging = {
        snapshot: {
          mailboxKey: mb.key,
          folderId: folder.id,
          select,
          changeType,
          generation: mb.deltaGeneration,
          seen: snapshotOf(mb, folder),
        },
        entries: list.map((m) => ({ kind: 'item', immutableId: m.immutableId })),
        pageSize,
        path,
      };
    }
    const pageEntries = paging.entries.slice(0, paging.pageSize);
    const rest = paging.entries.slice(paging.pageSize);
    const value = pageEntries.map((e) => {
      const m = mb.messages.get(e.immutableId);
      if (e.kind === 'removed' || !m || m.folderId !== folder.id) {
        const id =
          kind === 'immutable'
            ? e.immutableId
            : e.kind === 'removed'
              ? e.regularId
              : (paging.snapshot.seen.get(e.immutableId)?.regularId ?? e.immutableId);
        return { '@odata.type': '#microsoft.graph.message', id, '@removed': { reason: 'deleted' } };
      }
      return { '@odata.type': '#microsoft.graph.message', ...messageJson(m, kind, paging.snapshot.select) };
    });
    const body: Record<string, unknown> = { '@odata.context': `${deps.origin()}/v1.0/$metadata#Collection(message)` };
    if (rest.length > 0) {
      const token = randomBytes(18).toString('base64url');
      skipTokens.set(token, { ...paging, entries: rest });
      body['@odata.nextLink'] = `${deps.origin()}${paging.path}?$skiptoken=${token}`;
    } else {
      const token = randomBytes(18).toString('base64url');
      deltaTokens.set(token, paging.snapshot);
      body['@odata.deltaLink'] = deltaLinkUrl(paging.path, token);
    }
    body.value = value;
    sendResponse(req, res, 200, body, applied);
  }

  function checkGeneration(mb: Mailbox, s: DeltaSnapshot, path: string): void {
    if (s.generation === mb.deltaGeneration) return;
    const params = [...(s.select ? [`$select=${s.select.join(',')}`] : []), ...(s.changeType ? [`changeType=${s.changeType}`] : [])];
    throw new HttpError(
      410,
      'syncStateNotFound',
      'The sync state is not found: the delta token expired. Synchronize again from the start.',
      { location: `${deps.origin()}${path}${params.length ? `?${params.join('&')}` : ''}` },
    );
  }

  // ----- attachment upload sessions (bytes come through graphServer.ts) -----

  function completeAttachmentUpload(target: AttachmentTarget, chunks: Buffer[], size: number): string {
    const mb = mailboxes.get(target.mailboxKey);
    const m = mb?.messages.get(target.messageId);
    if (!mb || !m) throw new HttpError(404, 'ErrorItemNotFound', 'The message was deleted.');
    const att = makeAttachment({ kind: 'file', name: target.name, contentType: target.contentType, content: chunks });
    att.size = size;
    m.attachments.push(att);
    m.version++;
    return `${deps.origin()}/v1.0/users/${encodeURIComponent(mb.upn)}/messages/${encodeURIComponent(m.immutableId)}/attachments/${encodeURIComponent(att.id)}`;
  }

  // ----- the test API -----

  function subscriptionView(sub: Subscription): SubscriptionView {
    const mb = mailboxes.get(sub.mailboxKey)!;
    return {
      id: sub.id,
      resource: sub.resource,
      changeType: sub.changeType,
      notificationUrl: sub.notificationUrl,
      ...(sub.lifecycleNotificationUrl ? { lifecycleNotificationUrl: sub.lifecycleNotificationUrl } : {}),
      ...(sub.clientState !== undefined ? { clientState: sub.clientState } : {}),
      expirationDateTime: new Date(sub.expires).toISOString(),
      mailbox: mb.upn,
      folder: sub.folderId ? folderPath(mb, mb.folders.get(sub.folderId)!) : null,
      idType: sub.idKind === 'immutable' ? 'ImmutableId' : 'default',
      paused: sub.paused,
    };
  }

  function subscriptionOrThrow(id: string): Subscription {
    const sub = subscriptions.get(id);
    if (!sub) throw new Error(`graph.mail: no subscription ${id}`);
    return sub;
  }

  const api: GraphMail = {
    mailbox(upn) {
      const mb = mailboxFor(upn);
      return { upn: mb.upn, userId: mb.userId };
    },
    grantMailboxAccess(delegateUpn, mailboxUpn) {
      grants.add(`${lower(delegateUpn)}\n${mailboxFor(mailboxUpn).key}`);
    },
    addFolder(upn, path) {
      const mb = mailboxFor(upn);
      let cur = root(mb);
      for (const name of path.split('/').filter(Boolean)) {
        cur = children(mb, cur).find((c) => lower(c.displayName) === lower(name)) ?? createFolder(mb, cur, name);
      }
      return cur.id;
    },
    folders(upn) {
      const mb = mailboxFor(upn);
      return [...mb.folders.values()].filter((f) => f.wellKnown !== 'msgfolderroot').map((f) => folderPath(mb, f));
    },
    deliver(upn, message, folderSpec = 'inbox', o = {}) {
      const mb = mailboxFor(upn);
      const folder = folderBySpec(mb, folderSpec);
      const body =
        typeof message.body === 'string' || message.body === undefined
          ? { contentType: 'text' as const, content: message.body ?? '' }
          : message.body;
      const received = graphDate(message.receivedDateTime ?? new Date());
      const from = recipient(message.from);
      const m = newMessage(mb, folder, {
        subject: message.subject,
        from,
        sender: from,
        toRecipients: (message.toRecipients ?? [{ address: mb.upn }]).map(recipient),
        ccRecipients: (message.ccRecipients ?? []).map(recipient),
        body,
        received,
        sent: received,
        created: received,
        isRead: message.isRead ?? false,
        categories: [...(message.categories ?? [])],
        attachments: (message.attachments ?? []).map(makeAttachment),
        internetMessageId:
          message.internetMessageId ?? `<${randomBytes(12).toString('hex')}@${message.from.address.split('@')[1] ?? 'contoso.example'}>`,
      });
      changed(mb, { kind: 'created', message: m }, o.notify !== false);
      return { id: m.regularId, immutableId: m.immutableId, internetMessageId: m.internetMessageId };
    },
    messages(upn, folderSpec) {
      const mb = mailboxFor(upn);
      const folder = folderBySpec(mb, folderSpec);
      return sortMessages(null, folderMessages(mb, folder)).map((m) => messageView(mb, m));
    },
    permanentlyDeleted(upn) {
      return [...mailboxFor(upn).permanentlyDeleted];
    },
    maxConcurrent(upn) {
      return mailboxFor(upn).maxInFlight;
    },
    throttled(upn) {
      return { ...mailboxFor(upn).throttled };
    },
    sentTimes(upn) {
      return [...mailboxFor(upn).sentTimes];
    },
    expireDeltaTokens(upn) {
      for (const mb of upn ? [mailboxFor(upn)] : mailboxes.values()) mb.deltaGeneration++;
    },
    subscriptions() {
      return [...subscriptions.values()].filter(alive).map(subscriptionView);
    },
    expireSubscriptionIn(id, ms) {
      subscriptionOrThrow(id).expires = Date.now() + ms;
    },
    removeSubscription(id) {
      subscriptionOrThrow(id);
      subscriptions.delete(id);
    },
    async notify(subscriptionId, messageId, o = {}) {
      const sub = subscriptionOrThrow(subscriptionId);
      const mb = mailboxes.get(sub.mailboxKey)!;
      const m = findMessage(mb, messageId);
      const id = m ? msgId(m, sub.idKind) : messageId;
      const type = o.changeType ?? 'created';
      const body = changeBody(sub, type, id, m && type !== 'deleted' ? etag(m) : undefined, o.clientState);
      return track(sendChange(sub, type, id, body));
    },
    async lifecycle(subscriptionId, event, o = {}) {
      const sub = subscriptionOrThrow(subscriptionId);
      const status = await sendLifecycle(sub, event);
      if (event === 'subscriptionRemoved') subscriptions.delete(sub.id);
      if (event === 'reauthorizationRequired' && o.pause) sub.paused = true;
      return status;
    },
    pauseNotifications() {
      holdNotifications = true;
    },
    resumeNotifications() {
      holdNotifications = false;
      for (const job of held.splice(0)) void track(job());
    },
    async retryFailedNotifications() {
      const failed = notifications.filter((n) => n.kind === 'change' && !n.ok && !retried.has(n));
      const statuses: number[] = [];
      for (const n of failed) {
        retried.add(n);
        const sub = subscriptions.get(n.subscriptionId!);
        if (sub) statuses.push(await track(sendChange(sub, n.changeType!, n.messageId!, n.body)));
      }
      return statuses;
    },
    notifications,
    async notificationsSettled() {
      while (pending.size > 0) await Promise.allSettled([...pending]);
    },
  };

  return {
    api,
    sentMail,
    openDrafts() {
      let n = 0;
      for (const mb of mailboxes.values())
        for (const m of mb.messages.values()) if (m.isDraft && !mb.folders.get(m.folderId)!.outsideIpm) n++;
      return n;
    },
    handle,
    completeAttachmentUpload,
    chargeUpload(target, bytes) {
      const mb = mailboxes.get(target.mailboxKey);
      if (mb) chargeUpload(mb, bytes);
    },
    stop() {
      stopped = true;
      for (const r of outgoing) r.destroy();
    },
  };
}

function pick(full: Record<string, unknown>, select: string[]): Record<string, unknown> {
  const out: Record<string, unknown> = { id: full.id };
  for (const k of select) if (k in full) out[k] = full[k];
  return out;
}
