/**
 * A local Microsoft Graph server for connector tests (OneDrive, SharePoint document libraries and
 * Outlook mail), plain node:http on 127.0.0.1, `baseUrl` = `http://127.0.0.1:<port>/v1.0`.
 * It keeps everything in memory and enforces the documented protocol strictly, so that a client
 * that passes against it is likely to pass against the real service. Outlook mailboxes (folders,
 * messages, sendMail and drafts, delta, subscriptions and the notifications this server POSTs, the
 * per-mailbox concurrency limit) live in graphMailboxes.ts, mounted here (`graph.mail`); shared HTTP
 * plumbing in graphHttp.ts.
 *
 * Rules and where they come from (Microsoft Learn):
 *
 * Auth (https://learn.microsoft.com/graph/auth/auth-concepts, https://learn.microsoft.com/graph/errors)
 *   - every Graph request needs `Authorization: Bearer <token>`; `acceptToken(fn)` decides (default:
 *     any non-empty token). Missing → 401 + `WWW-Authenticate: Bearer ...` + `InvalidAuthenticationToken`;
 *     rejected → 401 `InvalidAuthenticationToken`. Errors use the Graph shape `{ error: { code, message,
 *     innerError } }`.
 *   - a verdict (`TokenVerdict`) of true or a UPN is a delegated token (`/me` = `meUpn` or that UPN);
 *     `{ app: true, appId? }` an application token, for which `/me/...` → 400 `BadRequest` "/me request is
 *     only valid with delegated authentication flow." (https://learn.microsoft.com/graph/auth-v2-service:
 *     app-only calls have no signed-in user).
 *   - upload URLs are pre-authenticated (a token in the query string) and take NO Authorization header:
 *     "If you include the Authorization header when issuing the PUT call, it may result in an HTTP 401
 *     Unauthorized response" (driveitem-createuploadsession, Remarks) and "Do not specify an
 *     Authorization request header" (outlook-large-attachments, step 2). "May" is enforced as "does":
 *     any Authorization header on an upload URL → 401.
 *
 * Drives (https://learn.microsoft.com/graph/api/driveitem-get, driveitem-get-content, drive-get, site-get)
 *   - `GET /me/drive`, `/users/{upn}/drive`, `/drives/{id}`, `/sites/{siteId}/drive(s)`, and below any
 *     of them `root`, `root:/{path}`, `root:/{path}:/content`, `items/{id}`, `items/{id}/content`,
 *     `items/{parentId}:/{path}:/...`. Names are case-insensitive (as in OneDrive), case-preserving.
 *   - content download answers `302 Found` with a pre-authenticated `Location` (as Graph does); fetch
 *     follows it by itself.
 *   - `GET /sites/{hostname}:/{server-relative path}` and `GET /sites/{siteId}/drives` (libraries by name).
 *   - a missing item → 404 `itemNotFound`.
 *
 * Simple upload (https://learn.microsoft.com/graph/api/driveitem-put-content)
 *   - `If-Match: <eTag or cTag>` (also on createUploadSession): a different or missing item → 412
 *     `preconditionFailed`.
 *   - `PUT .../root:/{path}:/content`; missing parent folders are created (as Graph does for paths).
 *   - `@microsoft.graph.conflictBehavior` in the query string (driveItem resource: "should be included in
 *     the URL instead of the body"; the default for PUT is `replace`): `fail` → 409 `nameAlreadyExists`,
 *     `replace` → 200 same item id, `rename` → "name 1.pdf", "name 2.pdf", ...; new file → 201.
 *   - size: the Graph page says up to 250 MB, the OneDrive page and the upload concept page say 4 MB.
 *     Enforced: `maxSimpleUploadBytes` (default 4 MiB) → 413 `requestTooLarge`.
 *
 * Upload session (https://learn.microsoft.com/graph/api/driveitem-createuploadsession,
 * https://learn.microsoft.com/graph/api/resources/uploadsession)
 *   - `POST .../root:/{path}:/createUploadSession` body `{ item: { '@microsoft.graph.conflictBehavior',
 *     name? } }` (conflictBehavior default `fail`; `name`, if given, must match the path's last
 *     segment: "The {item-path} must contain the name of the item that's specified in the request body")
 *     → 200 `{ uploadUrl, expirationDateTime, nextExpectedRanges: ['0-'] }`.
 *   - `PUT uploadUrl` with `Content-Range: bytes a-b/total` and `Content-Length` (= b-a+1, else 400);
 *     the total must be the same in every request (else 400); at most 60 MiB per request (else 413);
 *     fragments in order: a start other than the next expected byte → 416 with `nextExpectedRanges`
 *     ("Uploading fragments out of order results in an error"; "when the client sent a fragment the
 *     server had already received, the server responds with HTTP 416"); every fragment but the last must
 *     be a multiple of 320 KiB = 327,680 bytes ("the size of each byte range MUST be a multiple of 320
 *     KiB") → else 400 `invalidRange`. Real Graph only fails such uploads sometimes, at commit; here it
 *     fails at once, every time.
 *   - 202 `{ expirationDateTime, nextExpectedRanges: ['<next>-'] }` after a non-final fragment; after the
 *     last one 201 (new) or 200 (replaced) with the driveItem; a name taken meanwhile with `fail` → 409
 *     `nameAlreadyExists` ("Handling upload conflicts"); `rename` / `replace` resolved at commit.
 *   - `GET uploadUrl` → 200 status with `nextExpectedRanges` (resume); `DELETE uploadUrl` → 204 and the
 *     session is gone (later requests → 404 `itemNotFound`, "Handle 404 ... by starting the entire upload
 *     over"); expired sessions → 404 as well.
 *   - `interruptNextChunk()`: the next fragment PUT is cut off after part of its body was read (the
 *     socket is destroyed). NO byte of that request is kept, as documented: "If an upload request is
 *     disconnected or fails before the request is completed, all bytes in that request are ignored"
 *     (Resuming an in-progress upload); the client must resume from `nextExpectedRanges`.
 *
 * Throttling (https://learn.microsoft.com/graph/throttling): `throttleNext(n, retryAfterSeconds)` →
 * the next n requests (any kind, including upload URLs) get 429 `TooManyRequests` + `Retry-After`;
 * `fail503Next(n, retryAfterSeconds?)` → 503 `serviceNotAvailable` (+ `Retry-After` when given).
 *
 * Mail (graphMailboxes.ts has the rules of sendMail, drafts, folders, messages, delta and subscriptions)
 *   - attachment upload sessions (https://learn.microsoft.com/graph/api/attachment-createuploadsession,
 *     https://learn.microsoft.com/graph/outlook-large-attachments): `POST .../messages/{id}/attachments/
 *     createUploadSession` `{ AttachmentItem: { attachmentType: 'file', name, size } }` → 201 uploadSession
 *     (size ≤ `maxAttachmentBytes`, default 150 MB, else 413; optional `minAttachmentSessionBytes` to insist
 *     on the documented 3 MB lower bound); `PUT uploadUrl` fragments of at most 4 MiB ("keep each byte range
 *     less than 4 MB"; else 413), total = declared size, in order (else 416) → 200 `{ expirationDateTime,
 *     nextExpectedRanges: ['<next>'] }` (a single start offset, no dash, as documented for Outlook), the
 *     last → 201 + `Location` with the attachment id. The message, with all its attachments, is at most
 *     `maxMessageBytes` at send (default 35 MB = Exchange Online's default limit → else 413
 *     `ErrorMessageSizeExceeded`); a sendMail request at most `maxSendMailBytes` (default 4 MiB: Graph's
 *     request size limit, https://learn.microsoft.com/graph/errors 413).
 *
 * Memory: uploaded content is kept as the list of received Buffers (no copy per fragment, nothing is
 * concatenated until someone asks: `files()`, `fileContent()`, a download), so a 200 MB upload costs
 * about 200 MB of RAM once. `fileInfo()` gives the size and a SHA-256 without concatenating.
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { DroppedConnection, HttpError, MIB, drain, nowIso, readBody, readJson, sendError, sendJson } from './graphHttp';
import {
  createMailboxes,
  type AttachmentTarget,
  type Caller,
  type GraphMail,
  type MailboxOptions,
  type SentAttachment,
  type SentMail,
} from './graphMailboxes';

export { HttpError, MIB };
export type { SentAttachment, SentMail };
export type * from './graphMailboxes';

export const KIB_320 = 327_680;

/**
 * What `acceptToken` decides for a bearer token: false = rejected (401); true = a delegated token of
 * `meUpn`; a UPN string = a delegated token of that user (`/me` is that user); `{ app: true, appId? }` =
 * an application (app-only) token: `/me/...` → 400, `/users/{upn}/...` reaches every mailbox.
 */
export type TokenVerdict = boolean | string | { app: true; appId?: string };

export type ConflictBehavior = 'fail' | 'replace' | 'rename';

export interface GraphServerOptions extends MailboxOptions {
  /** User principal name of the signed-in user (`/me`), unless acceptToken returns one. */
  meUpn?: string;
  /** Simple upload limit (PUT .../content), bytes; default 4 MiB. */
  maxSimpleUploadBytes?: number;
  /** Largest fragment PUT to a drive upload URL; default 60 MiB. */
  maxFragmentBytes?: number;
  /** Largest fragment PUT to an attachment upload URL; default 4 MiB. */
  maxAttachmentFragmentBytes?: number;
  /** Largest sendMail request body; default 4 MiB. */
  maxSendMailBytes?: number;
  /** Largest attachment by upload session; default 150 MB (150 MiB). */
  maxAttachmentBytes?: number;
  /** Smallest attachment by upload session; default 0 (the docs say to use sessions from 3 MB). */
  minAttachmentSessionBytes?: number;
  /** Largest message at send (sum of attachments and body); default 35 MiB. */
  maxMessageBytes?: number;
  /** Upload session lifetime, ms; default 15 minutes. */
  sessionLifetimeMs?: number;
  /**
   * The HTTP server's keepAliveTimeout, ms; default 1000. Node's fetch (undici) keeps a connection
   * only for the server's `Keep-Alive: timeout=N` less a safety margin, and with timeout=1 or 2 reuses
   * none (Node 20): with the default every fetch opens a new connection. The benchmarks pass more, as
   * Graph keeps connections open.
   */
  keepAliveTimeoutMs?: number;
}

export interface RequestLogEntry {
  method: string;
  /** Path and query as received. */
  url: string;
  headers: IncomingMessage['headers'];
  status: number;
  /** Bytes of request body read (0 when the body was drained unread or the request was cut). */
  bodyBytes: number;
}

export interface GraphServer {
  /** e.g. http://127.0.0.1:12345/v1.0 */
  baseUrl: string;
  /** e.g. http://127.0.0.1:12345 */
  origin: string;
  acceptToken(fn: (token: string) => TokenVerdict): void;
  addDrive(id: string, options?: { ownerUpn?: string; name?: string }): void;
  /** A SharePoint site with document libraries (name → drive id; the drives are created if needed). */
  addSite(hostname: string, sitePath: string, libraries: Record<string, string>, displayName?: string): string;
  /** Seed a file (creates parent folders). */
  putFile(driveId: string, path: string, content: Buffer | string): void;
  /** path (relative to root, no leading slash, as stored) → content. Concatenates on demand. */
  files(driveId: string): Map<string, Buffer>;
  fileContent(driveId: string, path: string): Buffer | undefined;
  fileInfo(driveId: string, path: string): { size: number; sha256: string; id: string } | undefined;
  folders(driveId: string): string[];
  interruptNextChunk(): void;
  throttleNext(n: number, retryAfterSeconds: number): void;
  /**
   * The next request with this method whose path matches is not answered (its caller is as good
   * as dead); resolves when it arrived, with a function that drops its connection.
   */
  holdNext(method: string, path: RegExp): Promise<() => void>;
  fail503Next(n: number, retryAfterSeconds?: number): void;
  readonly requests: RequestLogEntry[];
  /** Outlook mailboxes: folders, messages, delta, subscriptions and notifications (graphMailboxes.ts). */
  readonly mail: GraphMail;
  /** Mail sent by sendMail or by sending a draft (also in the sender's Sent Items). */
  readonly sentMail: SentMail[];
  /** Open upload sessions (drive and attachment). */
  readonly openSessions: number;
  /** Drafts created and neither sent nor deleted. */
  readonly openDrafts: number;
  stop(): Promise<void>;
}

interface Item {
  id: string;
  name: string;
  /** Display path relative to root ('' for the root). */
  path: string;
  folder: boolean;
  chunks: Buffer[];
  size: number;
  created: string;
  modified: string;
  version: number;
}

interface Drive {
  id: string;
  name: string;
  ownerUpn?: string;
  driveType: 'business' | 'documentLibrary';
  /** lower-case path → item; '' is the root. */
  items: Map<string, Item>;
}

interface Site {
  id: string;
  hostname: string;
  sitePath: string;
  displayName: string;
  libraries: { name: string; driveId: string }[];
}

interface DriveSession {
  kind: 'drive';
  id: string;
  token: string;
  expires: number;
  driveId: string;
  /** Target path (display case). */
  path: string;
  conflictBehavior: ConflictBehavior;
  total?: number;
  received: number;
  chunks: Buffer[];
}

interface AttachmentSession {
  kind: 'attachment';
  id: string;
  token: string;
  expires: number;
  /** The message (in graphMailboxes.ts) that gets the attachment. */
  target: AttachmentTarget;
  total: number;
  received: number;
  chunks: Buffer[];
}

type Session = DriveSession | AttachmentSession;

const lower = (p: string) => p.toLowerCase();
const now = nowIso;

function splitPath(path: string): { parent: string; name: string } {
  const i = path.lastIndexOf('/');
  return i < 0 ? { parent: '', name: path } : { parent: path.slice(0, i), name: path.slice(i + 1) };
}

/** Decode and normalise a `root:/a/b.pdf` style path: no empty, '.' or '..' segments. */
function normalisePath(raw: string): string {
  const segs = raw.split('/').filter((s) => s !== '');
  const out: string[] = [];
  for (const s of segs) {
    let d: string;
    try {
      d = decodeURIComponent(s);
    } catch {
      throw new HttpError(400, 'invalidRequest', 'Malformed path.');
    }
    if (d === '.' || d === '..' || d.includes('/') || /[\\:*?"<>|]/.test(d)) {
      throw new HttpError(400, 'invalidRequest', `Invalid name: ${d}`);
    }
    out.push(d);
  }
  return out.join('/');
}

function mimeType(name: string): string {
  const ext = name.slice(name.lastIndexOf('.') + 1).toLowerCase();
  return (
    (
      {
        pdf: 'application/pdf',
        txt: 'text/plain',
        jpg: 'image/jpeg',
        jpeg: 'image/jpeg',
        png: 'image/png',
        tif: 'image/tiff',
        tiff: 'image/tiff',
      } as Record<string, string>
    )[ext] ?? 'application/octet-stream'
  );
}

function concat(chunks: Buffer[], size: number): Buffer {
  return chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size);
}

export async function startGraphServer(options: GraphServerOptions = {}): Promise<GraphServer> {
  const opts = {
    meUpn: options.meUpn ?? 'user@contoso.example',
    maxSimpleUploadBytes: options.maxSimpleUploadBytes ?? 4 * MIB,
    maxFragmentBytes: options.maxFragmentBytes ?? 60 * MIB,
    maxAttachmentFragmentBytes: options.maxAttachmentFragmentBytes ?? 4 * MIB,
    maxSendMailBytes: options.maxSendMailBytes ?? 4 * MIB,
    maxAttachmentBytes: options.maxAttachmentBytes ?? 150 * MIB,
    minAttachmentSessionBytes: options.minAttachmentSessionBytes ?? 0,
    maxMessageBytes: options.maxMessageBytes ?? 35 * MIB,
    sessionLifetimeMs: options.sessionLifetimeMs ?? 15 * 60_000,
  };
  let tokenCheck: (token: string) => TokenVerdict = (t) => t.length > 0;
  const drives = new Map<string, Drive>();
  const sites = new Map<string, Site>();
  const itemsById = new Map<string, { driveId: string; item: Item }>();
  const sessions = new Map<string, Session>();
  const requests: RequestLogEntry[] = [];
  const downloadTokens = new Map<string, string>(); // token → item id
  let throttle = { n: 0, retryAfter: 1 };
  let fail503 = { n: 0, retryAfter: undefined as number | undefined };
  let interrupt = false;
  let origin = '';
  const mail = createMailboxes(
    {
      origin: () => origin,
      limits: {
        maxSendMailBytes: opts.maxSendMailBytes,
        maxMessageBytes: opts.maxMessageBytes,
        maxAttachmentBytes: opts.maxAttachmentBytes,
        minAttachmentSessionBytes: opts.minAttachmentSessionBytes,
      },
      openAttachmentSession(target, size) {
        const id = randomUUID();
        const s: AttachmentSession = {
          kind: 'attachment',
          id,
          token: randomBytes(24).toString('base64url'),
          expires: Date.now() + opts.sessionLifetimeMs,
          target,
          total: size,
          received: 0,
          chunks: [],
        };
        sessions.set(id, s);
        return {
          uploadUrl: `${origin}/upload/attachment/${id}?authtoken=${s.token}`,
          expirationDateTime: new Date(s.expires).toISOString(),
          nextExpectedRanges: ['0-'],
        };
      },
    },
    options,
  );

  // ---------- drive model ----------

  function newItem(path: string, folder: boolean): Item {
    const t = now();
    return {
      id: randomBytes(12).toString('hex').toUpperCase(),
      name: splitPath(path).name,
      path,
      folder,
      chunks: [],
      size: 0,
      created: t,
      modified: t,
      version: 1,
    };
  }

  function addDrive(id: string, o: { ownerUpn?: string; name?: string; driveType?: Drive['driveType'] } = {}): Drive {
    let d = drives.get(id);
    if (!d) {
      d = {
        id,
        name: o.name ?? (o.ownerUpn ? 'OneDrive' : 'Documents'),
        ownerUpn: o.ownerUpn,
        driveType: o.driveType ?? 'business',
        items: new Map(),
      };
      const root = newItem('', true);
      root.name = 'root';
      d.items.set('', root);
      itemsById.set(root.id, { driveId: id, item: root });
      drives.set(id, d);
    } else {
      if (o.ownerUpn) d.ownerUpn = o.ownerUpn;
      if (o.name) d.name = o.name;
      if (o.driveType) d.driveType = o.driveType;
    }
    return d;
  }

  function getDrive(id: string): Drive {
    const d = drives.get(id);
    if (!d) throw new HttpError(404, 'itemNotFound', 'The drive could not be found.');
    return d;
  }

  /** Create missing parent folders of `path` (Graph does so for PUT/createUploadSession by path). */
  function ensureParents(d: Drive, path: string): void {
    const segs = path.split('/');
    segs.pop();
    let cur = '';
    for (const s of segs) {
      cur = cur ? `${cur}/${s}` : s;
      const existing = d.items.get(lower(cur));
      if (existing && !existing.folder) throw new HttpError(409, 'nameAlreadyExists', `A file is in the way of folder ${cur}.`);
      if (!existing) {
        // keep the case of an existing parent chain
        const parent = d.items.get(lower(splitPath(cur).parent))!;
        const f = newItem(parent.path ? `${parent.path}/${s}` : s, true);
        d.items.set(lower(cur), f);
        itemsById.set(f.id, { driveId: d.id, item: f });
      }
    }
  }

  function renameCandidate(d: Drive, path: string): string {
    const { parent, name } = splitPath(path);
    const dot = name.lastIndexOf('.');
    const base = dot > 0 ? name.slice(0, dot) : name;
    const ext = dot > 0 ? name.slice(dot) : '';
    for (let i = 1; ; i++) {
      const candidate = (parent ? `${parent}/` : '') + `${base} ${i}${ext}`;
      if (!d.items.has(lower(candidate))) return candidate;
    }
  }

  /** Write a file with the conflict rules; returns the item and whether it was created. */
  function commitFile(
    d: Drive,
    path: string,
    chunks: Buffer[],
    size: number,
    behavior: ConflictBehavior,
  ): { item: Item; created: boolean } {
    ensureParents(d, path);
    const parent = d.items.get(lower(splitPath(path).parent))!;
    const displayPath = (parent.path ? `${parent.path}/` : '') + splitPath(path).name;
    const existing = d.items.get(lower(displayPath));
    if (existing) {
      if (existing.folder || behavior === 'fail') {
        throw new HttpError(409, 'nameAlreadyExists', 'The specified item name already exists.');
      }
      if (behavior === 'replace') {
        existing.chunks = chunks;
        existing.size = size;
        existing.modified = now();
        existing.version++;
        return { item: existing, created: false };
      }
      const renamed = renameCandidate(d, displayPath);
      return commitNew(d, renamed, chunks, size);
    }
    return commitNew(d, displayPath, chunks, size);
  }

  function commitNew(d: Drive, path: string, chunks: Buffer[], size: number): { item: Item; created: boolean } {
    const it = newItem(path, false);
    it.chunks = chunks;
    it.size = size;
    d.items.set(lower(path), it);
    itemsById.set(it.id, { driveId: d.id, item: it });
    return { item: it, created: true };
  }

  function folderSize(d: Drive, folderPath: string): { size: number; childCount: number } {
    const prefix = folderPath ? `${lower(folderPath)}/` : '';
    let size = 0;
    let childCount = 0;
    for (const [k, it] of d.items) {
      if (k === '' || !k.startsWith(prefix)) continue;
      if (!it.folder) size += it.size;
      if (!k.slice(prefix.length).includes('/')) childCount++;
    }
    return { size, childCount };
  }

  function itemJson(d: Drive, it: Item): Record<string, unknown> {
    const etag = `"{${it.id}},${it.version}"`;
    const base: Record<string, unknown> = {
      id: it.id,
      name: it.name,
      eTag: etag,
      cTag: `"c:{${it.id}},${it.version}"`,
      createdDateTime: it.created,
      lastModifiedDateTime: it.modified,
      webUrl: `${origin}/web/${encodeURIComponent(d.id)}/${it.path.split('/').map(encodeURIComponent).join('/')}`,
    };
    if (it.path !== '') {
      const parentPath = splitPath(it.path).parent;
      const parent = d.items.get(lower(parentPath))!;
      base.parentReference = {
        driveId: d.id,
        driveType: d.driveType,
        id: parent.id,
        path: '/drive/root:' + (parentPath ? `/${parentPath}` : ''),
      };
    } else {
      base.root = {};
    }
    if (it.folder) {
      const f = folderSize(d, it.path);
      base.size = f.size;
      base.folder = { childCount: f.childCount };
    } else {
      base.size = it.size;
      base.file = { mimeType: mimeType(it.name) };
      const token = randomBytes(16).toString('hex');
      downloadTokens.set(token, it.id);
      base['@microsoft.graph.downloadUrl'] = `${origin}/download/${it.id}?tempauthtoken=${token}`;
    }
    return base;
  }

  function driveJson(d: Drive): Record<string, unknown> {
    const { size } = folderSize(d, '');
    return {
      id: d.id,
      name: d.name,
      driveType: d.driveType,
      owner: d.ownerUpn ? { user: { email: d.ownerUpn, displayName: d.ownerUpn } } : undefined,
      quota: { used: size, total: 1024 ** 4, remaining: 1024 ** 4 - size, state: 'normal' },
      webUrl: `${origin}/web/${encodeURIComponent(d.id)}`,
    };
  }

  // ---------- HTTP plumbing ----------
  function checkAuth(req: IncomingMessage): Caller {
    const h = req.headers.authorization;
    const m = h ? /^Bearer\s+(\S.*)$/i.exec(h) : null;
    if (!m || !m[1]!.trim()) {
      throw new HttpError(
        401,
        'InvalidAuthenticationToken',
        h ? 'CompactToken parsing failed with error code: 80049217' : 'Access token is empty.',
        {
          'www-authenticate':
            'Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize", client_id="00000003-0000-0000-c000-000000000000"',
        },
      );
    }
    const verdict = tokenCheck(m[1]!.trim());
    if (verdict === false) {
      throw new HttpError(401, 'InvalidAuthenticationToken', 'Access token validation failure. Invalid audience.', {
        'www-authenticate': 'Bearer realm="", error="invalid_token", error_description="The access token is invalid"',
      });
    }
    if (typeof verdict === 'object' && verdict.app) return { kind: 'app', appId: verdict.appId };
    return { kind: 'delegated', upn: typeof verdict === 'string' ? verdict : opts.meUpn };
  }

  // ---------- upload sessions ----------

  function sessionStatus(s: Session): Record<string, unknown> {
    const next = s.kind === 'drive' ? (s.total === undefined ? '0-' : `${s.received}-${s.total - 1}`) : `${s.received}`;
    return { expirationDateTime: new Date(s.expires).toISOString(), nextExpectedRanges: [next] };
  }

  function lookupSession(kind: string, id: string, url: URL, req: IncomingMessage): Session {
    // Pre-authenticated URL: the bearer token must NOT be sent (see header comment).
    if (req.headers.authorization !== undefined) {
      throw new HttpError(401, 'InvalidAuthenticationToken', 'Upload URLs are pre-authenticated: do not send an Authorization header.');
    }
    const s = sessions.get(id);
    if (!s || s.kind !== kind) throw new HttpError(404, 'itemNotFound', 'The upload session was not found.');
    const token = url.searchParams.get(kind === 'drive' ? 'tempauthtoken' : 'authtoken');
    if (token !== s.token) throw new HttpError(401, 'InvalidAuthenticationToken', 'The upload URL token is invalid.');
    if (Date.now() > s.expires) {
      sessions.delete(id);
      throw new HttpError(404, 'itemNotFound', 'The upload session has expired.');
    }
    return s;
  }

  async function putFragment(req: IncomingMessage, res: ServerResponse, s: Session, log: { bodyBytes: number }): Promise<void> {
    const range = /^bytes (\d+)-(\d+)\/(\d+)$/.exec(String(req.headers['content-range'] ?? ''));
    if (!range) throw new HttpError(400, 'invalidRange', 'Content-Range must be "bytes {start}-{end}/{total}".');
    const start = Number(range[1]);
    const end = Number(range[2]);
    const total = Number(range[3]);
    const length = end - start + 1;
    if (end < start || end >= total) throw new HttpError(400, 'invalidRange', 'Invalid Content-Range.');
    const cl = req.headers['content-length'];
    if (cl === undefined || Number(cl) !== length) {
      throw new HttpError(400, 'invalidRequest', `Content-Length must be given and equal the range length (${length}).`);
    }
    const maxFragment = s.kind === 'drive' ? opts.maxFragmentBytes : opts.maxAttachmentFragmentBytes;
    if (length > maxFragment) throw new HttpError(413, 'requestTooLarge', `A fragment may carry at most ${maxFragment} bytes.`);
    // An attachment's bytes are uploaded to its mailbox: Outlook's 150 MB per 5 minutes (graphMailboxes.ts).
    if (s.kind === 'attachment') mail.chargeUpload(s.target, length);
    if (s.total !== undefined && total !== s.total) {
      throw new HttpError(400, 'invalidRange', `The total size ${total} differs from the session's ${s.total}.`);
    }
    if (start !== s.received) {
      throw new HttpError(
        416,
        'invalidRange',
        `The uploaded fragment overlaps or skips data; next expected byte is ${s.received}.`,
        {},
        sessionStatus(s),
      );
    }
    const last = end === total - 1;
    if (s.kind === 'drive' && !last && length % KIB_320 !== 0) {
      throw new HttpError(
        400,
        'invalidRange',
        `Fragments other than the last must be a multiple of 320 KiB (327,680 bytes); got ${length}.`,
      );
    }

    // Read the fragment (buffers are kept as they arrive: no copy).
    const cut = interrupt;
    interrupt = false;
    const body = await new Promise<Buffer[] | null>((resolve, reject) => {
      const parts: Buffer[] = [];
      let n = 0;
      req.on('data', (c: Buffer) => {
        n += c.length;
        parts.push(c);
        if (cut && n >= Math.min(length - 1, Math.max(1, length >> 1))) {
          // Simulated network failure: nothing of this request is kept (documented behaviour).
          req.socket.destroy();
          resolve(null);
        }
      });
      req.on('end', () => {
        log.bodyBytes = n;
        if (n !== length) reject(new HttpError(400, 'invalidRequest', `Body length ${n} differs from Content-Length ${length}.`));
        else resolve(parts);
      });
      req.on('error', () => resolve(null));
      req.on('aborted', () => resolve(null));
    });
    if (body === null) {
      log.bodyBytes = 0;
      throw new DroppedConnection();
    }
    if (s.kind === 'drive') s.total = total;
    s.chunks.push(...body);
    s.received += length;
    s.expires = Date.now() + opts.sessionLifetimeMs; // "Each fragment uploaded during the session extends the expiration time"
    if (!last) {
      sendJson(res, s.kind === 'drive' ? 202 : 200, sessionStatus(s));
      return;
    }
    if (s.kind === 'drive') {
      const d = getDrive(s.driveId);
      // On conflict the session is kept (until expiry), as documented, so it could be committed again.
      const { item, created } = commitFile(d, s.path, s.chunks, s.received, s.conflictBehavior);
      sessions.delete(s.id);
      sendJson(res, created ? 201 : 200, itemJson(d, item));
    } else {
      const location = mail.completeAttachmentUpload(s.target, s.chunks, s.received);
      sessions.delete(s.id);
      sendJson(res, 201, undefined, { location });
    }
  }

  // ---------- Graph routes ----------

  function resolveDrivePrefix(p: string, me: string): { drive: Drive; rest: string } | null {
    let m: RegExpExecArray | null;
    const byOwner = (upn: string) => {
      for (const d of drives.values()) if (d.ownerUpn && lower(d.ownerUpn) === lower(upn)) return d;
      throw new HttpError(404, 'itemNotFound', `No drive for user ${upn}.`);
    };
    if ((m = /^\/me\/drive(\/.*)?$/.exec(p))) return { drive: byOwner(me), rest: m[1] ?? '' };
    if ((m = /^\/users\/([^/]+)\/drive(\/.*)?$/.exec(p))) return { drive: byOwner(decodeURIComponent(m[1]!)), rest: m[2] ?? '' };
    if ((m = /^\/drives\/([^/]+)(\/.*)?$/.exec(p))) return { drive: getDrive(decodeURIComponent(m[1]!)), rest: m[2] ?? '' };
    if ((m = /^\/sites\/([^/:]+)\/drive(\/.*)?$/.exec(p))) {
      const site = sites.get(decodeURIComponent(m[1]!));
      if (!site || site.libraries.length === 0) throw new HttpError(404, 'itemNotFound', 'Site not found.');
      return { drive: getDrive(site.libraries[0]!.driveId), rest: m[2] ?? '' };
    }
    if ((m = /^\/sites\/([^/:]+)\/drives\/([^/]+)(\/.*)?$/.exec(p))) {
      const site = sites.get(decodeURIComponent(m[1]!));
      const driveId = decodeURIComponent(m[2]!);
      if (!site || !site.libraries.some((l) => l.driveId === driveId)) throw new HttpError(404, 'itemNotFound', 'Drive not found in site.');
      return { drive: getDrive(driveId), rest: m[3] ?? '' };
    }
    return null;
  }

  async function handleDrive(
    req: IncomingMessage,
    res: ServerResponse,
    url: URL,
    d: Drive,
    rest: string,
    log: { bodyBytes: number },
  ): Promise<void> {
    const method = req.method ?? 'GET';
    if (rest === '' || rest === '/') {
      if (method !== 'GET') throw new HttpError(405, 'BadRequest', 'Method not allowed.');
      await drain(req);
      return sendJson(res, 200, driveJson(d));
    }
    // /root, /root:/path[:][/action], /items/{id}[/action], /items/{id}:/path:[/action]
    const m = /^\/(root|items\/([^/:]+))(?::\/([^:]*))?:?(\/content|\/createUploadSession|\/children)?$/.exec(rest);
    if (!m) throw new HttpError(400, 'BadRequest', `Unsupported drive request: ${rest}`);
    let basePath = '';
    if (m[2] !== undefined) {
      const id = decodeURIComponent(m[2]);
      const found = id === 'root' ? { driveId: d.id, item: d.items.get('')! } : itemsById.get(id);
      if (!found || found.driveId !== d.id || !d.items.has(lower(found.item.path)))
        throw new HttpError(404, 'itemNotFound', 'The resource could not be found.');
      basePath = found.item.path;
    }
    const rel = m[3] !== undefined ? normalisePath(m[3]) : '';
    const path = basePath && rel ? `${basePath}/${rel}` : basePath || rel;
    const action = m[4] ?? '';

    if (action === '/content' && method === 'PUT') {
      const cb = url.searchParams.get('@microsoft.graph.conflictBehavior') ?? 'replace';
      if (!['fail', 'replace', 'rename'].includes(cb)) {
        await drain(req);
        throw new HttpError(400, 'invalidRequest', `Invalid conflictBehavior: ${cb}`);
      }
      if (path === '') {
        await drain(req);
        throw new HttpError(400, 'invalidRequest', 'Cannot upload to the root.');
      }
      const body = await readBody(req, opts.maxSimpleUploadBytes);
      log.bodyBytes = body.length;
      checkIfMatch(req, d, path);
      const { item, created } = commitFile(d, path, [body], body.length, cb as ConflictBehavior);
      return sendJson(res, created ? 201 : 200, itemJson(d, item));
    }
    if (action === '/createUploadSession' && method === 'POST') {
      const body = await readJson(req);
      const props = body?.item ?? {};
      const cb = props['@microsoft.graph.conflictBehavior'] ?? 'fail';
      if (!['fail', 'replace', 'rename'].includes(cb)) throw new HttpError(400, 'invalidRequest', `Invalid conflictBehavior: ${cb}`);
      if (path === '') throw new HttpError(400, 'invalidRequest', 'An item path is required.');
      if (props.name !== undefined && props.name !== splitPath(path).name) {
        throw new HttpError(400, 'invalidRequest', 'The name in the body must match the item path.');
      }
      if (body?.deferCommit) throw new HttpError(501, 'notSupported', 'deferCommit is not modelled by this test server.');
      checkIfMatch(req, d, path);
      const existing = d.items.get(lower(path));
      if (existing?.folder) throw new HttpError(409, 'nameAlreadyExists', 'A folder has that name.');
      const id = randomUUID();
      const s: DriveSession = {
        kind: 'drive',
        id,
        token: randomBytes(24).toString('base64url'),
        expires: Date.now() + opts.sessionLifetimeMs,
        driveId: d.id,
        path,
        conflictBehavior: cb,
        total: typeof props.fileSize === 'number' ? props.fileSize : undefined,
        received: 0,
        chunks: [],
      };
      sessions.set(id, s);
      return sendJson(res, 200, {
        uploadUrl: `${origin}/upload/drive/${id}?tempauthtoken=${s.token}`,
        expirationDateTime: new Date(s.expires).toISOString(),
        nextExpectedRanges: ['0-'],
      });
    }
    await drain(req);
    if (method !== 'GET') throw new HttpError(405, 'BadRequest', 'Method not allowed.');
    const item = d.items.get(lower(path));
    if (!item) throw new HttpError(404, 'itemNotFound', 'The resource could not be found.');
    if (action === '/content') {
      if (item.folder) throw new HttpError(400, 'invalidRequest', 'Folders have no content.');
      const token = randomBytes(16).toString('hex');
      downloadTokens.set(token, item.id);
      return sendJson(res, 302, undefined, { location: `${origin}/download/${item.id}?tempauthtoken=${token}` });
    }
    if (action === '/children') {
      if (!item.folder) throw new HttpError(400, 'invalidRequest', 'Not a folder.');
      const prefix = item.path ? `${lower(item.path)}/` : '';
      const value = [...d.items.entries()]
        .filter(([k]) => k !== '' && k.startsWith(prefix) && !k.slice(prefix.length).includes('/'))
        .map(([, it]) => itemJson(d, it));
      return sendJson(res, 200, { value });
    }
    return sendJson(res, 200, itemJson(d, item));
  }

  /** `If-Match` (driveitem-put-content, driveitem-createuploadsession): the item's eTag or cTag, else 412. */
  function checkIfMatch(req: IncomingMessage, d: Drive, path: string): void {
    const want = req.headers['if-match'];
    if (want === undefined) return;
    const it = d.items.get(lower(path));
    const tags = it ? [`"{${it.id}},${it.version}"`, `"c:{${it.id}},${it.version}"`] : [];
    if (!tags.includes(String(want))) throw new HttpError(412, 'preconditionFailed', 'The eTag in If-Match does not match the item.');
  }

  function siteJson(s: Site): Record<string, unknown> {
    return {
      id: s.id,
      name: s.sitePath.split('/').pop(),
      displayName: s.displayName,
      webUrl: `https://${s.hostname}/${s.sitePath}`,
      siteCollection: { hostname: s.hostname },
    };
  }

  const holds: Array<{ method: string; path: RegExp; arrived: (drop: () => void) => void }> = [];

  async function route(req: IncomingMessage, res: ServerResponse, log: RequestLogEntry): Promise<void> {
    const url = new URL(req.url ?? '/', origin);
    const p = url.pathname;
    const method = req.method ?? 'GET';

    const held = holds.findIndex((h) => h.method === method && h.path.test(p));
    if (held >= 0) {
      // Never answered: the caller is to die with this request in flight (a crash mid-operation).
      const [h] = holds.splice(held, 1);
      await drain(req);
      h!.arrived(() => res.destroy());
      return;
    }
    if (throttle.n > 0) {
      throttle.n--;
      await drain(req);
      throw new HttpError(429, 'TooManyRequests', 'Too many requests.', { 'retry-after': String(throttle.retryAfter) });
    }
    if (fail503.n > 0) {
      fail503.n--;
      await drain(req);
      throw new HttpError(
        503,
        'serviceNotAvailable',
        'Service unavailable.',
        fail503.retryAfter !== undefined ? { 'retry-after': String(fail503.retryAfter) } : {},
      );
    }

    let m: RegExpExecArray | null;
    if ((m = /^\/upload\/(drive|attachment)\/([^/]+)$/.exec(p))) {
      let s: Session;
      try {
        s = lookupSession(m[1]!, m[2]!, url, req);
      } catch (e) {
        await drain(req);
        throw e;
      }
      if (method === 'PUT') {
        try {
          return await putFragment(req, res, s, log);
        } catch (e) {
          await drain(req);
          throw e;
        }
      }
      await drain(req);
      if (method === 'GET') return sendJson(res, 200, sessionStatus(s));
      if (method === 'DELETE') {
        sessions.delete(s.id);
        return sendJson(res, 204, undefined);
      }
      throw new HttpError(405, 'BadRequest', 'Method not allowed.');
    }
    if ((m = /^\/download\/([^/]+)$/.exec(p))) {
      await drain(req);
      const token = url.searchParams.get('tempauthtoken') ?? '';
      const found = itemsById.get(m[1]!);
      if (downloadTokens.get(token) !== m[1] || !found) throw new HttpError(401, 'InvalidAuthenticationToken', 'Invalid download token.');
      const d = getDrive(found.driveId);
      if (d.items.get(lower(found.item.path)) !== found.item) throw new HttpError(404, 'itemNotFound', 'The resource could not be found.');
      const body = concat(found.item.chunks, found.item.size);
      res.writeHead(200, { 'content-type': mimeType(found.item.name), 'content-length': body.length });
      res.end(body);
      return;
    }
    if (!p.startsWith('/v1.0/')) {
      await drain(req);
      throw new HttpError(404, 'BadRequest', 'Only /v1.0 is served.');
    }
    let caller: Caller;
    try {
      caller = checkAuth(req);
    } catch (e) {
      await drain(req);
      throw e;
    }
    const gp = p.slice('/v1.0'.length);
    if (caller.kind === 'app' && /^\/me(\/|$)/i.test(gp)) {
      await drain(req);
      throw new HttpError(400, 'BadRequest', '/me request is only valid with delegated authentication flow.');
    }
    const me = caller.kind === 'delegated' ? caller.upn : '';

    // SharePoint sites
    if ((m = /^\/sites\/([^/:]+):\/(.+?):?$/.exec(gp)) && method === 'GET') {
      await drain(req);
      const host = decodeURIComponent(m[1]!);
      const sitePath = normalisePath(m[2]!);
      const site = [...sites.values()].find((s) => lower(s.hostname) === lower(host) && lower(s.sitePath) === lower(sitePath));
      if (!site) throw new HttpError(404, 'itemNotFound', 'Requested site could not be found');
      return sendJson(res, 200, siteJson(site));
    }
    if ((m = /^\/sites\/([^/:]+)\/drives$/.exec(gp)) && method === 'GET') {
      await drain(req);
      const site = sites.get(decodeURIComponent(m[1]!));
      if (!site) throw new HttpError(404, 'itemNotFound', 'Requested site could not be found');
      return sendJson(res, 200, {
        value: site.libraries.map((l) => ({ ...driveJson(getDrive(l.driveId)), name: l.name, driveType: 'documentLibrary' })),
      });
    }
    if ((m = /^\/sites\/([^/:]+)$/.exec(gp)) && method === 'GET') {
      await drain(req);
      const site = sites.get(decodeURIComponent(m[1]!));
      if (!site) throw new HttpError(404, 'itemNotFound', 'Requested site could not be found');
      return sendJson(res, 200, siteJson(site));
    }

    const dr = resolveDrivePrefix(gp, me);
    if (dr) return handleDrive(req, res, url, dr.drive, dr.rest, log);
    if (await mail.handle(req, res, url, gp, caller, log)) return;
    await drain(req);
    throw new HttpError(400, 'BadRequest', `Resource not found for the segment '${gp}'.`);
  }

  const server: Server = createServer((req, res) => {
    const log: RequestLogEntry = { method: req.method ?? 'GET', url: req.url ?? '/', headers: req.headers, status: 0, bodyBytes: 0 };
    requests.push(log);
    res.on('finish', () => (log.status = res.statusCode));
    route(req, res, log).catch((e: unknown) => {
      if (e instanceof DroppedConnection) {
        log.status = -1;
        return;
      }
      if (res.headersSent || res.destroyed) return;
      if (e instanceof HttpError) return sendError(res, e);
      sendError(res, new HttpError(500, 'generalException', String((e as Error)?.stack ?? e)));
    });
  });
  server.keepAliveTimeout = options.keepAliveTimeoutMs ?? 1000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  origin = `http://127.0.0.1:${port}`;

  const api: GraphServer = {
    baseUrl: `${origin}/v1.0`,
    origin,
    acceptToken(fn) {
      tokenCheck = fn;
    },
    addDrive(id, o = {}) {
      addDrive(id, o);
    },
    addSite(hostname, sitePath, libraries, displayName) {
      const id = `${hostname},${randomUUID()},${randomUUID()}`;
      const norm = normalisePath(sitePath);
      const libs = Object.entries(libraries).map(([name, driveId]) => {
        addDrive(driveId, { name, driveType: 'documentLibrary' });
        return { name, driveId };
      });
      sites.set(id, { id, hostname, sitePath: norm, displayName: displayName ?? norm.split('/').pop()!, libraries: libs });
      return id;
    },
    putFile(driveId, path, content) {
      const buf = Buffer.isBuffer(content) ? content : Buffer.from(content);
      commitFile(getDrive(driveId), normalisePath(path), [buf], buf.length, 'replace');
    },
    files(driveId) {
      const d = getDrive(driveId);
      const out = new Map<string, Buffer>();
      for (const it of d.items.values()) if (!it.folder) out.set(it.path, concat(it.chunks, it.size));
      return out;
    },
    fileContent(driveId, path) {
      const it = getDrive(driveId).items.get(lower(normalisePath(path)));
      return it && !it.folder ? concat(it.chunks, it.size) : undefined;
    },
    fileInfo(driveId, path) {
      const it = getDrive(driveId).items.get(lower(normalisePath(path)));
      if (!it || it.folder) return undefined;
      const h = createHash('sha256');
      for (const c of it.chunks) h.update(c);
      return { size: it.size, sha256: h.digest('hex'), id: it.id };
    },
    folders(driveId) {
      return [...getDrive(driveId).items.values()].filter((it) => it.folder && it.path !== '').map((it) => it.path);
    },
    interruptNextChunk() {
      interrupt = true;
    },
    holdNext(method, path) {
      return new Promise<() => void>((arrived) => holds.push({ method, path, arrived }));
    },
    throttleNext(n, retryAfterSeconds) {
      throttle = { n, retryAfter: retryAfterSeconds };
    },
    fail503Next(n, retryAfterSeconds) {
      fail503 = { n, retryAfter: retryAfterSeconds };
    },
    requests,
    mail: mail.api,
    sentMail: mail.sentMail,
    get openDrafts() {
      return mail.openDrafts();
    },
    get openSessions() {
      return sessions.size;
    },
    stop() {
      mail.stop();
      return new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
  return api;
}
