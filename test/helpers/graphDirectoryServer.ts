/**
 * A local Microsoft Graph server for directory sync tests: users, groups, (transitive) members and
 * delta queries, plain node:http on 127.0.0.1, `baseUrl` = `http://127.0.0.1:<port>/v1.0`. Everything
 * is in memory; the documented protocol is enforced strictly so that a client that passes here is
 * likely to pass against the real service.
 *
 * Rules and where they come from (Microsoft Learn):
 *
 * Auth (https://learn.microsoft.com/graph/auth-v2-service, https://learn.microsoft.com/graph/errors)
 *   - `Authorization: Bearer <JWT>` on every request; missing → 401 + `WWW-Authenticate: Bearer ...` +
 *     `InvalidAuthenticationToken`; a token that does not decode (or that `verifyToken` refuses), or
 *     whose `aud` is not this server's origin (or https://graph.microsoft.com) → 401.
 *   - application permissions are the token's `roles` claim. Least privileged, per API page:
 *     `User.Read.All` for user-delta, user-get and user-list-memberof; `GroupMember.Read.All` for
 *     group-delta, group-get, group-list-members, group-list-transitivemembers and
 *     group-list-memberof (a broader `Directory.Read.All` / `Group.Read.All` is accepted too). Missing → 403
 *     `Authorization_RequestDenied` "Insufficient privileges to complete the operation.".
 *
 * Paging (https://learn.microsoft.com/graph/paging)
 *   - `@odata.nextLink` is an opaque URL (`$skiptoken=`) that carries the original query's parameters;
 *     the client must follow it as is. `$top` (1..999) on member lists; delta pages have the server's
 *     page size (`pageSize`), as Graph chooses the page size of delta responses itself.
 *
 * Delta (https://learn.microsoft.com/graph/delta-query-overview, delta-query-users, delta-query-groups,
 * https://learn.microsoft.com/graph/api/user-delta, https://learn.microsoft.com/graph/api/group-delta)
 *   - `GET /users/delta` and `/groups/delta` (and the fully qualified `/microsoft.graph.delta`): the first
 *     round returns every existing object (deleted ones are not returned) with the `$select`ed
 *     properties, in pages linked by `@odata.nextLink`; the last page carries `@odata.deltaLink`
 *     (`$deltatoken=`), never both. A round that starts from a deltaLink returns only what changed
 *     since: created objects in full, updated ones with `id` and at least the changed selected
 *     properties (here: exactly those), deleted ones as `{ id, '@removed': { reason } }` — `changed`
 *     for a soft delete (restorable for 30 days), `deleted` for a permanent one.
 *   - groups with `members` selected carry `members@delta`: every member in the first round, then
 *     added members, and removed ones with `'@removed': { reason: 'deleted' }`; a group with many
 *     members is split over several entries/pages ("the same group may be returned more than once"),
 *     each later entry with its `id` only. `$deltatoken=latest` returns an empty page with a deltaLink.
 *   - `expireDeltaTokens()`: later uses of earlier tokens answer 400 `syncStateNotFound` ("The delta
 *     token is expired and data must be synchronized again", the directory's behaviour since 2020;
 *     devblogs "Duration of change tracking tokens for identity and education resources"), or, with
 *     `{ status: 410 }`, 410 Gone `resyncRequired` as other resources do.
 *
 * Members (https://learn.microsoft.com/graph/api/group-list-transitivemembers, group-list-members,
 * user-list-memberof, group-list-memberof)
 *   - `GET /groups/{id}/transitiveMembers[/microsoft.graph.user|group]`: members of nested groups
 *     included, each object once; the OData cast keeps one type. `members` are direct members only.
 *   - an unknown user or group → 404 `Request_ResourceNotFound`.
 *
 * Throttling (https://learn.microsoft.com/graph/throttling)
 *   - `throttleNext(n, retryAfterSeconds)`: the next n requests answer 429 with `Retry-After` and the
 *     error code `TooManyRequests`.
 *
 * Every request is logged (`requests`) with its path, query and status, for assertions such as "the
 * second run used the deltaLink".
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { decodeJwt } from './oidcServer';
import { HttpError } from './graphServer';

export const USER_PROPERTIES = [
  'id',
  'userPrincipalName',
  'mail',
  'givenName',
  'surname',
  'displayName',
  'accountEnabled',
  'department',
  'employeeId',
  'jobTitle',
] as const;
const GROUP_PROPERTIES = ['id', 'displayName', 'description', 'mailNickname', 'securityEnabled'] as const;

export interface GraphUser {
  id: string;
  userPrincipalName: string;
  mail: string | null;
  givenName: string | null;
  surname: string | null;
  displayName: string | null;
  accountEnabled: boolean;
  department: string | null;
  employeeId: string | null;
  jobTitle: string | null;
}

export interface GraphGroup {
  id: string;
  displayName: string;
  description: string | null;
  mailNickname: string;
  securityEnabled: boolean;
  /** Direct members: user or group ids. */
  members: Set<string>;
}

export interface DirectoryRequestRecord {
  method: string;
  /** Path below /v1.0, e.g. /users/delta */
  path: string;
  query: Record<string, string>;
  status: number;
}

export interface GraphDirectoryServerOptions {
  /** Objects per delta page and the default member page size (default 100). */
  pageSize?: number;
  /** Members of one group per members@delta entry (default 50); more are split over several entries. */
  membersPerEntry?: number;
  /** Decodes and checks a bearer token, returning its payload; throws to refuse it. Default: decode only. */
  verifyToken?: (token: string) => Record<string, unknown>;
}

export interface GraphDirectoryServer {
  readonly baseUrl: string;
  /** http://127.0.0.1:<port> (the token audience) */
  readonly origin: string;
  readonly requests: DirectoryRequestRecord[];
  pageSize: number;
  addUser(user: Partial<GraphUser> & { userPrincipalName: string }): string;
  updateUser(id: string, changes: Partial<Omit<GraphUser, 'id'>>): void;
  /** Soft delete (`@removed.reason` 'changed') unless `permanent`. Memberships go with the user. */
  deleteUser(id: string, options?: { permanent?: boolean }): void;
  user(id: string): GraphUser | undefined;
  addGroup(group: { displayName: string; description?: string; id?: string }): string;
  renameGroup(id: string, displayName: string): void;
  deleteGroup(id: string): void;
  addMember(groupId: string, memberId: string): void;
  removeMember(groupId: string, memberId: string): void;
  /** The next `count` requests answer 429 with Retry-After. */
  throttleNext(count: number, retryAfterSeconds: number): void;
  /** Every delta token issued so far stops working (400 syncStateNotFound, or 410 resyncRequired). */
  expireDeltaTokens(options?: { status?: 400 | 410 }): void;
  clearRequests(): void;
  stop(): Promise<void>;
}

type Kind = 'users' | 'groups';

interface ChangeEvent {
  seq: number;
  kind: Kind;
  id: string;
  created?: boolean;
  props?: string[];
  removed?: 'changed' | 'deleted';
  member?: { id: string; removed: boolean };
}

interface DeltaToken {
  kind: Kind;
  /** The change sequence number the round's state corresponds to. */
  seq: number;
  select: string[];
  generation: number;
}

interface PageSession {
  items: Record<string, unknown>[];
  offset: number;
  top: number;
  /** For delta rounds: the deltaLink to give on the last page. */
  delta?: DeltaToken;
  path: string;
}

const USER_READ = ['User.Read.All', 'User.ReadWrite.All', 'Directory.Read.All', 'Directory.ReadWrite.All'];
const MEMBER_READ = ['GroupMember.Read.All', 'Group.Read.All', 'Group.ReadWrite.All', 'Directory.Read.All', 'Directory.ReadWrite.All'];

export async function startGraphDirectoryServer(options: GraphDirectoryServerOptions = {}): Promise<GraphDirectoryServer> {
  const users = new Map<string, GraphUser>();
  const groups = new Map<string, GraphGroup>();
  const events: ChangeEvent[] = [];
  let seq = 0;
  const deltaTokens = new Map<string, DeltaToken>();
  const sessions = new Map<string, PageSession>();
  let generation = 0;
  let expiredStatus: 400 | 410 = 400;
  let throttle: { remaining: number; retryAfter: number } | undefined;
  const requests: DirectoryRequestRecord[] = [];
  const membersPerEntry = options.membersPerEntry ?? 50;
  const verify = options.verifyToken ?? ((t: string) => decodeJwt(t).payload);

  const record = (e: Omit<ChangeEvent, 'seq'>) => events.push({ ...e, seq: ++seq });
  const token = () => randomBytes(18).toString('base64url');
  const typeOf = (id: string) => (users.has(id) ? '#microsoft.graph.user' : '#microsoft.graph.group');

  let origin = '';
  let baseUrl = '';

  const pick = (obj: Record<string, unknown>, select: string[]) => {
    const out: Record<string, unknown> = { id: obj.id };
    for (const p of select) if (p !== 'members' && p in obj) out[p] = obj[p];
    return out;
  };
  const userSelect = (q: Record<string, string>) => parseSelect(q.$select, USER_PROPERTIES);
  const groupSelect = (q: Record<string, string>) => parseSelect(q.$select, [...GROUP_PROPERTIES, 'members']);

  function requireRoles(payload: Record<string, unknown>, anyOf: string[], what: string): void {
    const roles = Array.isArray(payload.roles) ? (payload.roles as string[]) : [];
    if (!roles.some((r) => anyOf.includes(r))) {
      throw new HttpError(
        403,
        'Authorization_RequestDenied',
        `Insufficient privileges to complete the operation. (${what} needs ${anyOf[0]})`,
      );
    }
  }

  function authenticate(req: IncomingMessage): Record<string, unknown> {
    const header = req.headers.authorization ?? '';
    const m = /^Bearer\s+(\S+)$/i.exec(header);
    if (!m) {
      throw new HttpError(401, 'InvalidAuthenticationToken', 'Access token is empty.', {
        'WWW-Authenticate':
          'Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize", client_id="00000003-0000-0000-c000-000000000000"',
      });
    }
    let payload: Record<string, unknown>;
    try {
      payload = verify(m[1]!);
    } catch {
      throw new HttpError(401, 'InvalidAuthenticationToken', 'IDX14100: JWT is not well formed.');
    }
    if (payload.aud !== origin && payload.aud !== 'https://graph.microsoft.com' && payload.aud !== '00000003-0000-0000-c000-000000000000') {
      throw new HttpError(401, 'InvalidAuthenticationToken', 'Invalid audience.');
    }
    return payload;
  }

  function page(session: PageSession, id: string, context: string): Record<string, unknown> {
    const value = session.items.slice(session.offset, session.offset + session.top);
    session.offset += value.length;
    const body: Record<string, unknown> = { '@odata.context': context, value };
    if (session.offset < session.items.length) {
      body['@odata.nextLink'] = `${baseUrl}${session.path}?$skiptoken=${id}`;
    } else {
      sessions.delete(id);
      if (session.delta) {
        const t = token();
        deltaTokens.set(t, session.delta);
        body['@odata.deltaLink'] = `${baseUrl}${session.path}?$deltatoken=${t}`;
      }
    }
    return body;
  }

  function startSession(session: Omit<PageSession, 'offset'>, context: string): Record<string, unknown> {
    const id = token();
    const s: PageSession = { ...session, offset: 0 };
    sessions.set(id, s);
    return page(s, id, context);
  }

  function continueSession(skiptoken: string, path: string, context: string): Record<string, unknown> {
    const s = sessions.get(skiptoken);
    if (!s || s.path !== path) throw new HttpError(400, 'Request_BadRequest', 'Invalid or expired skip token.');
    return page(s, skiptoken, context);
  }

  /** The items of a delta round: everything (first round) or the net changes since `since`. */
  function deltaItems(kind: Kind, select: string[], since?: number): Record<string, unknown>[] {
    if (kind === 'users') {
      if (since === undefined) return [...users.values()].map((u) => pick(u as unknown as Record<string, unknown>, select));
      const changed = new Map<string, { created: boolean; props: Set<string>; removed?: 'changed' | 'deleted' }>();
      for (const e of events) {
        if (e.seq <= since || e.kind !== 'users') continue;
        const c = changed.get(e.id) ?? { created: false, props: new Set<string>() };
        if (e.created) Object.assign(c, { created: true, removed: undefined });
        if (e.removed) c.removed = e.removed;
        for (const p of e.props ?? []) c.props.add(p);
        changed.set(e.id, c);
      }
      const out: Record<string, unknown>[] = [];
      for (const [id, c] of changed) {
        const u = users.get(id);
        if (!u) {
          out.push({ id, '@removed': { reason: c.removed ?? 'deleted' } });
          continue;
        }
        if (c.created) {
          out.push(pick(u as unknown as Record<string, unknown>, select));
          continue;
        }
        const props = select.filter((p) => c.props.has(p));
        if (props.length > 0) out.push(pick(u as unknown as Record<string, unknown>, props));
      }
      return out;
    }

    const withMembers = select.includes('members');
    const entries = (g: GraphGroup, props: string[], memberDelta: Record<string, unknown>[]) => {
      const first = pick(g as unknown as Record<string, unknown>, props);
      if (!withMembers) return [first];
      const out: Record<string, unknown>[] = [];
      for (let i = 0; i === 0 || i < memberDelta.length; i += membersPerEntry) {
        const entry = i === 0 ? first : { id: g.id };
        out.push({ ...entry, 'members@delta': memberDelta.slice(i, i + membersPerEntry) });
      }
      return out;
    };
    const memberRef = (id: string) => ({ '@odata.type': typeOf(id), id });
    if (since === undefined) return [...groups.values()].flatMap((g) => entries(g, select, [...g.members].map(memberRef)));
    const changed = new Map<
      string,
      { created: boolean; props: Set<string>; removed?: 'changed' | 'deleted'; members: Map<string, boolean> }
    >();
    for (const e of events) {
      if (e.seq <= since || e.kind !== 'groups') continue;
      const c = changed.get(e.id) ?? { created: false, props: new Set<string>(), members: new Map<string, boolean>() };
      if (e.created) c.created = true;
      if (e.removed) c.removed = e.removed;
      for (const p of e.props ?? []) c.props.add(p);
      if (e.member) c.members.set(e.member.id, e.member.removed);
      changed.set(e.id, c);
    }
    const out: Record<string, unknown>[] = [];
    for (const [id, c] of changed) {
      const g = groups.get(id);
      if (!g) {
        out.push({ id, '@removed': { reason: c.removed ?? 'deleted' } });
        continue;
      }
      if (c.created) {
        out.push(...entries(g, select, [...g.members].map(memberRef)));
        continue;
      }
      const memberDelta = [...c.members].map(([m, removed]) =>
        removed ? { ...memberRef(m), '@removed': { reason: 'deleted' } } : memberRef(m),
      );
      const props = select.filter((p) => c.props.has(p));
      if (props.length === 0 && memberDelta.length === 0) continue;
      out.push(...entries(g, props, memberDelta));
    }
    return out;
  }

  function handleDelta(kind: Kind, path: string, q: Record<string, string>, payload: Record<string, unknown>): Record<string, unknown> {
    requireRoles(payload, kind === 'users' ? USER_READ : MEMBER_READ, `${kind}: delta`);
    const context = `${baseUrl}/$metadata#${kind}(${kind === 'users' ? 'id' : 'id'})`;
    if (q.$skiptoken) return continueSession(q.$skiptoken, path, context);
    let since: number | undefined;
    let select: string[];
    if (q.$deltatoken === 'latest') {
      select = kind === 'users' ? userSelect(q) : groupSelect(q);
      const t = token();
      deltaTokens.set(t, { kind, seq, select, generation });
      return { '@odata.context': context, value: [], '@odata.deltaLink': `${baseUrl}${path}?$deltatoken=${t}` };
    }
    if (q.$deltatoken) {
      const state = deltaTokens.get(q.$deltatoken);
      if (!state || state.kind !== kind) throw new HttpError(400, 'Request_BadRequest', 'Invalid delta token.');
      if (state.generation !== generation) {
        throw expiredStatus === 410
          ? new HttpError(
              410,
              'resyncRequired',
              'Resync required. Replace any local items with the server versions (including deletes) if you are sure the service was up to date with your local changes when you last sync.',
            )
          : new HttpError(
              400,
              'syncStateNotFound',
              'The sync state generation is not found. The delta token is expired and data must be synchronized again.',
            );
      }
      since = state.seq;
      select = state.select;
    } else {
      select = kind === 'users' ? userSelect(q) : groupSelect(q);
    }
    const items = deltaItems(kind, select, since);
    return startSession({ items, top: pageSizeNow(), path, delta: { kind, seq, select, generation } }, context);
  }

  let pageSize = options.pageSize ?? 100;
  const pageSizeNow = () => pageSize;

  function topOf(q: Record<string, string>): number {
    if (q.$top === undefined) return pageSizeNow();
    const n = Number(q.$top);
    if (!Number.isInteger(n) || n < 1 || n > 999)
      throw new HttpError(400, 'Request_BadRequest', "Invalid page size specified: '" + q.$top + "'. Must be between 1 and 999 inclusive.");
    return n;
  }

  function groupOr404(id: string): GraphGroup {
    const g = groups.get(id.toLowerCase());
    if (!g)
      throw new HttpError(
        404,
        'Request_ResourceNotFound',
        `Resource '${id}' does not exist or one of its queried reference-property objects are not present.`,
      );
    return g;
  }

  function transitive(g: GraphGroup): string[] {
    const seen = new Set<string>();
    const visited = new Set<string>([g.id]);
    const queue = [g];
    while (queue.length > 0) {
      const cur = queue.shift()!;
      for (const m of cur.members) {
        if (seen.has(m)) continue;
        seen.add(m);
        const nested = groups.get(m);
        if (nested && !visited.has(nested.id)) {
          visited.add(nested.id);
          queue.push(nested);
        }
      }
    }
    return [...seen];
  }

  function objectOf(id: string, select: string[]): Record<string, unknown> {
    const u = users.get(id);
    if (u) return { '@odata.type': '#microsoft.graph.user', ...pick(u as unknown as Record<string, unknown>, select) };
    const g = groups.get(id)!;
    return { '@odata.type': '#microsoft.graph.group', ...pick(g as unknown as Record<string, unknown>, select) };
  }

  function listObjects(ids: string[], cast: string | undefined, q: Record<string, string>, path: string): Record<string, unknown> {
    const filtered = ids.filter((id) =>
      cast === 'microsoft.graph.user' ? users.has(id) : cast === 'microsoft.graph.group' ? groups.has(id) : true,
    );
    const select = parseSelect(
      q.$select,
      cast === 'microsoft.graph.group' ? GROUP_PROPERTIES : cast === 'microsoft.graph.user' ? USER_PROPERTIES : ['id', 'displayName'],
    );
    const top = topOf(q);
    if (q.$skiptoken) return continueSession(q.$skiptoken, path, `${baseUrl}/$metadata#directoryObjects`);
    return startSession({ items: filtered.map((id) => objectOf(id, select)), top, path }, `${baseUrl}/$metadata#directoryObjects`);
  }

  function route(method: string, path: string, q: Record<string, string>, payload: Record<string, unknown>): Record<string, unknown> {
    if (method !== 'GET') throw new HttpError(405, 'Request_BadRequest', 'Only GET is served here.');
    let m: RegExpExecArray | null;
    if (path === '/users/delta' || path === '/users/microsoft.graph.delta') return handleDelta('users', path, q, payload);
    if (path === '/groups/delta' || path === '/groups/microsoft.graph.delta') return handleDelta('groups', path, q, payload);
    if ((m = /^\/groups\/([^/]+)\/(transitiveMembers|members|memberOf)(?:\/(microsoft\.graph\.(?:user|group)))?$/.exec(path))) {
      requireRoles(payload, MEMBER_READ, `groups: ${m[2]}`);
      const g = groupOr404(decodeURIComponent(m[1]!));
      const ids =
        m[2] === 'transitiveMembers'
          ? transitive(g)
          : m[2] === 'members'
            ? [...g.members]
            : [...groups.values()].filter((p) => p.members.has(g.id)).map((p) => p.id);
      return listObjects(ids, m[3], q, path);
    }
    if ((m = /^\/users\/([^/]+)\/memberOf(?:\/(microsoft\.graph\.group))?$/.exec(path))) {
      requireRoles(payload, USER_READ, 'users: memberOf');
      const id = decodeURIComponent(m[1]!).toLowerCase();
      if (!users.has(id))
        throw new HttpError(
          404,
          'Request_ResourceNotFound',
          `Resource '${id}' does not exist or one of its queried reference-property objects are not present.`,
        );
      return listObjects(
        [...groups.values()].filter((g) => g.members.has(id)).map((g) => g.id),
        m[2],
        q,
        path,
      );
    }
    if ((m = /^\/users\/([^/]+)$/.exec(path))) {
      requireRoles(payload, USER_READ, 'users: get');
      const key = decodeURIComponent(m[1]!).toLowerCase();
      const u = users.get(key) ?? [...users.values()].find((x) => x.userPrincipalName.toLowerCase() === key);
      if (!u)
        throw new HttpError(
          404,
          'Request_ResourceNotFound',
          `Resource '${key}' does not exist or one of its queried reference-property objects are not present.`,
        );
      return { '@odata.context': `${baseUrl}/$metadata#users/$entity`, ...pick(u as unknown as Record<string, unknown>, userSelect(q)) };
    }
    if ((m = /^\/groups\/([^/]+)$/.exec(path))) {
      requireRoles(payload, MEMBER_READ, 'groups: get');
      const g = groupOr404(decodeURIComponent(m[1]!));
      return {
        '@odata.context': `${baseUrl}/$metadata#groups/$entity`,
        ...pick(g as unknown as Record<string, unknown>, parseSelect(q.$select, GROUP_PROPERTIES)),
      };
    }
    throw new HttpError(400, 'BadRequest', `Resource not found for the segment '${path.split('/').pop()}'.`);
  }

  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', origin);
    const path = url.pathname.replace(/^\/v1\.0/, '');
    const query: Record<string, string> = {};
    for (const [k, v] of url.searchParams) query[k] = v;
    const entry: DirectoryRequestRecord = { method: req.method ?? 'GET', path, query, status: 0 };
    requests.push(entry);
    const send = (status: number, body: unknown, headers: Record<string, string> = {}) => {
      entry.status = status;
      res.writeHead(status, { 'content-type': 'application/json; odata.metadata=minimal', 'request-id': randomUUID(), ...headers });
      res.end(JSON.stringify(body));
    };
    req.resume();
    req.on('end', () => {
      try {
        if (!url.pathname.startsWith('/v1.0/')) throw new HttpError(404, 'BadRequest', 'Invalid version.');
        if (throttle && throttle.remaining > 0) {
          throttle.remaining -= 1;
          throw new HttpError(429, 'TooManyRequests', 'Too many requests are being made. Please try again later.', {
            'Retry-After': String(throttle.retryAfter),
          });
        }
        const payload = authenticate(req);
        send(200, route(entry.method, path, query, payload));
      } catch (err) {
        if (err instanceof HttpError) {
          send(
            err.status,
            { error: { code: err.code, message: err.message, innerError: { date: new Date().toISOString(), 'request-id': randomUUID() } } },
            err.headers,
          );
        } else {
          send(500, { error: { code: 'InternalServerError', message: (err as Error).message } });
        }
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  origin = `http://127.0.0.1:${port}`;
  baseUrl = `${origin}/v1.0`;

  const userOr = (id: string) => {
    const u = users.get(id);
    if (!u) throw new Error(`no user ${id}`);
    return u;
  };
  const groupOr = (id: string) => {
    const g = groups.get(id);
    if (!g) throw new Error(`no group ${id}`);
    return g;
  };

  return {
    baseUrl,
    origin,
    requests,
    get pageSize() {
      return pageSize;
    },
    set pageSize(n: number) {
      pageSize = n;
    },
    addUser(user) {
      const id = (user.id ?? randomUUID()).toLowerCase();
      const full: GraphUser = {
        mail: user.userPrincipalName,
        givenName: null,
        surname: null,
        displayName: user.userPrincipalName.split('@')[0]!,
        accountEnabled: true,
        department: null,
        employeeId: null,
        jobTitle: null,
        ...user,
        id,
      };
      users.set(id, full);
      record({ kind: 'users', id, created: true });
      return id;
    },
    updateUser(id, changes) {
      const u = userOr(id);
      Object.assign(u, changes);
      record({ kind: 'users', id, props: Object.keys(changes) });
    },
    deleteUser(id, o) {
      userOr(id);
      users.delete(id);
      record({ kind: 'users', id, removed: o?.permanent ? 'deleted' : 'changed' });
      for (const g of groups.values()) {
        if (g.members.delete(id)) record({ kind: 'groups', id: g.id, member: { id, removed: true } });
      }
    },
    user: (id) => users.get(id),
    addGroup(g) {
      const id = (g.id ?? randomUUID()).toLowerCase();
      groups.set(id, {
        id,
        displayName: g.displayName,
        description: g.description ?? null,
        mailNickname: g.displayName.replace(/\W/g, ''),
        securityEnabled: true,
        members: new Set(),
      });
      record({ kind: 'groups', id, created: true });
      return id;
    },
    renameGroup(id, displayName) {
      groupOr(id).displayName = displayName;
      record({ kind: 'groups', id, props: ['displayName'] });
    },
    deleteGroup(id) {
      groupOr(id);
      groups.delete(id);
      record({ kind: 'groups', id, removed: 'deleted' });
      for (const g of groups.values()) {
        if (g.members.delete(id)) record({ kind: 'groups', id: g.id, member: { id, removed: true } });
      }
    },
    addMember(groupId, memberId) {
      if (!users.has(memberId) && !groups.has(memberId)) throw new Error(`no object ${memberId}`);
      groupOr(groupId).members.add(memberId);
      record({ kind: 'groups', id: groupId, member: { id: memberId, removed: false } });
    },
    removeMember(groupId, memberId) {
      if (groupOr(groupId).members.delete(memberId)) record({ kind: 'groups', id: groupId, member: { id: memberId, removed: true } });
    },
    throttleNext(count, retryAfterSeconds) {
      throttle = { remaining: count, retryAfter: retryAfterSeconds };
    },
    expireDeltaTokens(o) {
      generation += 1;
      expiredStatus = o?.status ?? 400;
    },
    clearRequests() {
      requests.length = 0;
    },
    stop: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((err) => (err ? reject(err) : resolve()));
      }),
  };
}

/** `$select`: known properties only (Graph answers 400 for an unknown one); all of `all` when absent. */
function parseSelect(raw: string | undefined, all: readonly string[]): string[] {
  if (raw === undefined) return all.filter((p) => p !== 'members');
  const props = raw
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean);
  for (const p of props) {
    if (!all.includes(p))
      throw new HttpError(400, 'Request_BadRequest', `Could not find a property named '${p}' on type 'microsoft.graph.directoryObject'.`);
  }
  return props;
}
