/**
 * The local host's HTTP side (startLocalServer) with a registry of test functions: routing and
 * params, 404/405, the request body streamed to the handler, X-Forwarded-For, and `admin` keys.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import type { HttpRequest } from '@azure/functions';
import type { FunctionDefinition } from '../../host/definitions';
import { compileRoute, startLocalServer, type LocalServer } from '../../host/local/server';
import { LocalSecretStore } from '../../shared/secrets';
import { httpRequest } from '../helpers/http';

const MiB = 1024 * 1024;
const ADMIN_KEY = 'admin-key-for-tests-0123456789';

/** Rejects with a clear message when `promise` has not settled within `ms` (a safety net, not a measurement). */
function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`Timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Called by the echo function when the first body chunk reaches it (see the streaming test). */
let onFirstChunk: (() => void) | undefined;

async function countBody(request: HttpRequest): Promise<number> {
  if (!request.body) return 0;
  let bytes = 0;
  for await (const chunk of request.body as unknown as AsyncIterable<Uint8Array>) {
    if (bytes === 0 && chunk.length > 0) onFirstChunk?.();
    bytes += chunk.length;
  }
  return bytes;
}

const registry: FunctionDefinition[] = [
  {
    kind: 'http',
    name: 'echo',
    route: 'items/{id}',
    methods: ['GET', 'POST', 'PUT'],
    authLevel: 'anonymous',
    handler: async (request) => ({
      status: 200,
      jsonBody: {
        params: request.params,
        query: Object.fromEntries(request.query.entries()),
        method: request.method,
        forwardedFor: request.headers.get('x-forwarded-for'),
        contentLength: request.headers.get('content-length'),
        bodyLength: await countBody(request),
      },
    }),
  },
  {
    kind: 'http',
    name: 'files',
    route: 'files/{folder}/{name?}',
    methods: ['GET'],
    authLevel: 'anonymous',
    handler: async (request) => ({ jsonBody: { params: request.params } }),
  },
  {
    kind: 'http',
    name: 'adminPing',
    route: 'admin/ping',
    methods: ['GET', 'POST'],
    authLevel: 'admin',
    handler: async () => ({ status: 200, jsonBody: { ok: true }, headers: { 'x-test': 'admin' } }),
  },
  {
    kind: 'queue',
    name: 'notHttp',
    queueName: 'ignored',
    handler: async () => undefined,
  },
];

let dir: string;
let server: LocalServer;
/** A server whose secret store has no admin-key. */
let keyless: LocalServer;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'scanrelay-server-'));
  const secrets = new LocalSecretStore(join(dir, 'secrets.json'), {});
  await secrets.set('admin-key', ADMIN_KEY);
  const empty = new LocalSecretStore(join(dir, 'empty.json'), {});
  const quiet = () => undefined;
  server = await startLocalServer({ registry, port: 0, log: quiet, adminKey: () => secrets.tryGet('admin-key') });
  keyless = await startLocalServer({ registry, port: 0, log: quiet, adminKey: () => empty.tryGet('admin-key') });
});

afterAll(async () => {
  await server?.close();
  await keyless?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('compileRoute', () => {
  it('turns {params} into groups under /api, case-insensitively, with an optional trailing slash', () => {
    const { pattern, params } = compileRoute('items/{id}');
    expect(params).toEqual(['id']);
    expect(pattern.exec('/api/items/42')?.[1]).toBe('42');
    expect(pattern.test('/api/ITEMS/42/')).toBe(true);
    expect(pattern.test('/api/items')).toBe(false);
    expect(pattern.test('/api/items/42/more')).toBe(false);
    expect(pattern.test('/items/42')).toBe(false);
  });

  it('handles optional params, constraints and literal dots', () => {
    expect(compileRoute('files/{folder}/{name?}').params).toEqual(['folder', 'name']);
    expect(compileRoute('files/{folder}/{name?}').pattern.test('/api/files/a')).toBe(true);
    expect(compileRoute('v1/{id:int}').pattern.exec('/api/v1/7')?.[1]).toBe('7');
    expect(compileRoute('health.json').pattern.test('/api/healthXjson')).toBe(false);
  });

  it('handles a catch-all {*rest}: the rest of the path, slashes included, or nothing', () => {
    const { pattern, params } = compileRoute('scim/v2/{*path}');
    expect(params).toEqual(['path']);
    expect(pattern.exec('/api/scim/v2/Users/42')?.[1]).toBe('Users/42');
    expect(pattern.exec('/api/scim/v2')?.[1]).toBeUndefined();
    expect(pattern.test('/api/scim/v2x/Users')).toBe(false);
  });
});

describe('routing', () => {
  it('lists the HTTP functions only', () => {
    expect(server.routes.map((r) => r.name)).toEqual(['echo', 'files', 'adminPing']);
    expect(server.routes[0]).toEqual({ name: 'echo', methods: ['GET', 'POST', 'PUT'], url: `${server.url}/api/items/{id}` });
  });

  it('passes route params, query and method to the handler', async () => {
    const res = await httpRequest(`${server.url}/api/items/42?color=blue&size=a%20b`);
    expect(res.status).toBe(200);
    expect(res.json).toMatchObject({ params: { id: '42' }, query: { color: 'blue', size: 'a b' }, method: 'GET', bodyLength: 0 });
  });

  it('decodes params and matches case-insensitively, with a trailing slash', async () => {
    const res = await httpRequest(`${server.url}/API/Items/a%20b%2Fc/`, { method: 'PUT' });
    expect(res.status).toBe(200);
    expect(res.json).toMatchObject({ params: { id: 'a b/c' }, method: 'PUT' });
  });

  it('fills optional params when present and leaves them out when not', async () => {
    expect((await httpRequest(`${server.url}/api/files/docs/report.pdf`)).json).toEqual({ params: { folder: 'docs', name: 'report.pdf' } });
    expect((await httpRequest(`${server.url}/api/files/docs`)).json).toEqual({ params: { folder: 'docs' } });
  });

  it('answers 404 for an unknown route', async () => {
    for (const path of ['/api/nothing-here', '/api/items', '/api/items/1/2', '/items/1', '/']) {
      const res = await httpRequest(`${server.url}${path}`);
      expect([path, res.status]).toEqual([path, 404]);
      expect(res.json).toEqual({ error: 'not_found' });
    }
  });

  it('answers 400, not 500, for a malformed percent-escape in a route parameter', async () => {
    const res = await httpRequest(`${server.url}/api/items/%E0%A4%A`);
    expect(res.status).toBe(400);
    expect(res.json.error).toBe('bad_request');
  });

  it('answers 405 for a known route with the wrong method', async () => {
    const res = await httpRequest(`${server.url}/api/items/1`, { method: 'DELETE' });
    expect(res.status).toBe(405);
    expect(res.json).toEqual({ error: 'method_not_allowed' });
    expect((await httpRequest(`${server.url}/api/files/a`, { method: 'POST' })).status).toBe(405);
  });
});

describe('request body', () => {
  it('streams a 5 MB body to the handler, which sees it before the sender has finished', async () => {
    const total = 5 * MiB;
    const first = Buffer.alloc(MiB, 0x61);
    const rest = Buffer.alloc(total - first.length, 0x62);
    const firstChunkSeen = new Promise<void>((resolve) => (onFirstChunk = resolve));
    const body = new PassThrough();
    const response = httpRequest(`${server.url}/api/items/upload`, {
      method: 'POST',
      headers: { 'content-type': 'application/octet-stream', 'content-length': total },
      body,
    });
    body.write(first);
    // Only once the handler has seen bytes does the rest go out: a server that buffered the whole
    // body before calling the handler would never get here (and the test would time out).
    await within(firstChunkSeen, 30_000, 'the handler to receive the first bytes of the body');
    body.end(rest);
    const res = await within(response, 30_000, 'the response');
    onFirstChunk = undefined;
    expect(res.status).toBe(200);
    expect(res.json).toMatchObject({ method: 'POST', bodyLength: total, contentLength: String(total) });
  });

  it('streams a chunked body (no Content-Length) of 5 MB', async () => {
    const total = 5 * MiB;
    const chunks = Array.from({ length: 20 }, () => Buffer.alloc(total / 20, 0x63));
    const res = await httpRequest(`${server.url}/api/items/chunked`, { method: 'POST', body: Readable.from(chunks) });
    expect(res.status).toBe(200);
    expect(res.json).toMatchObject({ bodyLength: total, contentLength: null });
  });

  it('gives the handler no body for GET', async () => {
    expect((await httpRequest(`${server.url}/api/items/1`)).json.bodyLength).toBe(0);
  });
});

describe('X-Forwarded-For', () => {
  it("is the peer's address when the sender gave none", async () => {
    const res = await httpRequest(`${server.url}/api/items/1`);
    expect(res.json.forwardedFor).toBe('127.0.0.1');
  });

  it("has the peer's address appended to the sender's", async () => {
    const res = await httpRequest(`${server.url}/api/items/1`, { headers: { 'x-forwarded-for': '203.0.113.7, 198.51.100.2' } });
    expect(res.json.forwardedFor).toBe('203.0.113.7, 198.51.100.2, 127.0.0.1');
  });
});

describe('admin functions', () => {
  const url = () => `${server.url}/api/admin/ping`;

  it('answer 401 without a key', async () => {
    const res = await httpRequest(url());
    expect(res.status).toBe(401);
    expect(res.json.error).toBe('unauthorized');
    expect(res.headers['x-test']).toBeUndefined();
  });

  it('answer 401 with a wrong key, in the header or in ?code=', async () => {
    for (const res of [
      await httpRequest(url(), { headers: { 'x-functions-key': 'wrong' } }),
      await httpRequest(url(), { headers: { 'x-functions-key': `${ADMIN_KEY}x` } }),
      await httpRequest(url(), { headers: { 'x-functions-key': ADMIN_KEY.slice(0, -1) } }),
      await httpRequest(`${url()}?code=wrong`),
      await httpRequest(`${url()}?code=`),
    ]) {
      expect(res.status).toBe(401);
      expect(res.text).not.toContain(ADMIN_KEY);
    }
  });

  it('answer 200 with the right key in the x-functions-key header', async () => {
    const res = await httpRequest(url(), { headers: { 'x-functions-key': ADMIN_KEY } });
    expect(res.status).toBe(200);
    expect(res.json).toEqual({ ok: true });
    expect(res.headers['x-test']).toBe('admin');
  });

  it('answer 200 with the right key in ?code=', async () => {
    const res = await httpRequest(`${url()}?code=${encodeURIComponent(ADMIN_KEY)}`, { method: 'POST' });
    expect(res.status).toBe(200);
    expect(res.json).toEqual({ ok: true });
  });

  it('take ?code= when the x-functions-key header is empty', async () => {
    const res = await httpRequest(`${url()}?code=${encodeURIComponent(ADMIN_KEY)}`, { headers: { 'x-functions-key': '' } });
    expect(res.status).toBe(200);
  });

  it('answer 401 to every key when no admin-key secret exists', async () => {
    for (const res of [
      await httpRequest(`${keyless.url}/api/admin/ping`),
      await httpRequest(`${keyless.url}/api/admin/ping`, { headers: { 'x-functions-key': ADMIN_KEY } }),
      await httpRequest(`${keyless.url}/api/admin/ping?code=${ADMIN_KEY}`),
      await httpRequest(`${keyless.url}/api/admin/ping`, { headers: { 'x-functions-key': '' } }),
    ]) {
      expect(res.status).toBe(401);
    }
  });

  it('do not ask for a key on anonymous functions', async () => {
    expect((await httpRequest(`${keyless.url}/api/items/1`)).status).toBe(200);
  });
});
