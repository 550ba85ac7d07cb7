/**
 * The local host's HTTP side: serves the registry's HTTP functions on /api/<route> with the
 * real @azure/functions request and response types, the way the Functions worker does with
 * HTTP streaming on (the request body is streamed to the handler, never buffered).
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { PassThrough } from 'node:stream';
import { formatWithOptions } from 'node:util';
import { HttpRequest, HttpResponse, InvocationContext, type HttpResponseInit } from '@azure/functions';
import { secretsEqual } from '../../shared/secrets';
import type { FunctionDefinition, HttpFunction } from '../definitions';
import { statusOf, type RequestErrorCode } from '../../shared/errors';
import { errorResponse } from '../http';

export interface LocalServerOptions {
  registry: readonly FunctionDefinition[];
  port: number;
  hostname?: string;
  /** The `admin-key` secret, asked for on `admin` functions. */
  adminKey?: () => Promise<string | undefined>;
  log?: (line: string) => void;
  /** The slowest request body accepted (defaults: Kestrel's, see MIN_BODY_RATE). */
  minBodyRate?: { bytesPerSecond: number; graceMs: number };
}

/**
 * Kestrel, the Functions host's web server, fails a request whose body arrives slower than
 * 240 bytes/s after a 5 s grace period, counting only time the app waits for data
 * (KestrelServerLimits.MinRequestBodyDataRate,
 * https://learn.microsoft.com/dotnet/api/microsoft.aspnetcore.server.kestrel.core.kestrelserverlimits.minrequestbodydatarate).
 * The local host does the same, so a stalled upload ends instead of holding its request open.
 */
export const MIN_BODY_RATE = { bytesPerSecond: 240, graceMs: 5000 };

export interface LocalServer {
  url: string;
  port: number;
  routes: Array<{ name: string; methods: string[]; url: string }>;
  close(): Promise<void>;
}

interface Route {
  fn: HttpFunction;
  pattern: RegExp;
  params: string[];
}

/** Hop-by-hop headers are the connection's, not the request's. */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'upgrade', 'expect', 'proxy-connection', 'te']);

export function compileRoute(route: string): { pattern: RegExp; params: string[] } {
  const params: string[] = [];
  const source = route
    .replace(/^\/+|\/+$/g, '')
    .split('/')
    .map((segment) => {
      // `{*rest}`: a catch-all (the rest of the path, possibly empty), as the Functions host has it.
      const all = /^\{\*([A-Za-z_][A-Za-z0-9_]*)\}$/.exec(segment);
      if (all) {
        params.push(all[1]!);
        return '(?:/(.*))?';
      }
      const m = /^\{([A-Za-z_][A-Za-z0-9_]*)(?::[^}?]*)?(\?)?\}$/.exec(segment);
      if (!m) return '/' + segment.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
      params.push(m[1]!);
      return m[2] ? '(?:/([^/]+))?' : '/([^/]+)';
    })
    .join('');
  return { pattern: new RegExp(`^/api${source}/?$`, 'i'), params };
}

export async function startLocalServer(options: LocalServerOptions): Promise<LocalServer> {
  const log = options.log ?? ((line: string) => console.log(line));
  const routes: Route[] = options.registry
    .filter((fn): fn is HttpFunction => fn.kind === 'http')
    .map((fn) => ({ fn, ...compileRoute(fn.route) }));

  const server: Server = createServer((req, res) => {
    const started = Date.now();
    handle(req, res, routes, options)
      .catch((err: unknown) => {
        log(`local host: unhandled error: ${(err as Error)?.message}`);
        if (!res.headersSent) {
          const answer = errorResponse('internal_error', 'The local host failed to run the function.');
          res.writeHead(answer.status!, { 'content-type': 'application/json' });
          res.end(JSON.stringify(answer.jsonBody));
        } else {
          res.destroy();
        }
      })
      .finally(() => log(`${req.method} ${req.url?.split('?')[0]} -> ${res.statusCode} (${Date.now() - started} ms)`));
  });
  server.requestTimeout = 0; // large scans may take long to upload
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.hostname ?? '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  const url = `http://localhost:${port}`;
  return {
    url,
    port,
    routes: routes.map((r) => ({ name: r.fn.name, methods: r.fn.methods, url: `${url}/api/${r.fn.route}` })),
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

async function handle(req: IncomingMessage, res: ServerResponse, routes: Route[], options: LocalServerOptions) {
  const host = req.headers.host ?? `localhost`;
  const url = new URL(req.url ?? '/', `http://${host}`);
  const method = (req.method ?? 'GET').toUpperCase();
  let match: { route: Route; values: RegExpExecArray } | undefined;
  let pathMatched = false;
  for (const route of routes) {
    const values = route.pattern.exec(url.pathname);
    if (!values) continue;
    pathMatched = true;
    if (route.fn.methods.includes(method as never)) {
      match = { route, values };
      break;
    }
  }
  if (!match) {
    // As the Functions host answers them: the code alone.
    const code: RequestErrorCode = pathMatched ? 'method_not_allowed' : 'not_found';
    return send(res, { status: statusOf(code), jsonBody: { error: code } });
  }
  const { route, values } = match;

  if (route.fn.authLevel === 'admin' && !(await adminKeyValid(req, url, options))) {
    return send(res, errorResponse('unauthorized', 'This endpoint needs the admin key (x-functions-key header or code parameter).'));
  }

  const headers = new Headers();
  for (const [name, value] of Object.entries(req.headers)) {
    if (value === undefined || HOP_BY_HOP.has(name)) continue;
    headers.set(name, Array.isArray(value) ? value.join(', ') : value);
  }
  // As Azure's front end does: append the peer's address to X-Forwarded-For.
  const peer = req.socket.remoteAddress ?? '';
  const prior = headers.get('x-forwarded-for');
  headers.set('x-forwarded-for', prior ? `${prior}, ${peer}` : peer);

  const hasBody = method !== 'GET' && method !== 'HEAD';
  const body = hasBody ? watchBodyRate(req, options.minBodyRate ?? MIN_BODY_RATE) : undefined;
  // As the worker does: the socket stream is the body (an async iterable), unbuffered.
  const nativeRequest = new Request(url, { method, headers, body, duplex: 'half' } as unknown as RequestInit);
  const params: Record<string, string> = {};
  try {
    route.params.forEach((name, i) => {
      const v = values[i + 1];
      if (v !== undefined) params[name] = decodeURIComponent(v);
    });
  } catch {
    return send(res, errorResponse('bad_request', 'The URL has a malformed percent-escape.'));
  }
  const request = streamingRequest({ nativeRequest, params });
  const context = new InvocationContext({
    invocationId: randomUUID(),
    functionName: route.fn.name,
    // Through the host's log (tests and benchmarks pass a quiet one), like every other line it writes.
    logHandler: (level, ...args) =>
      (options.log ?? console.log)(formatWithOptions({ breakLength: Infinity }, `[${route.fn.name}] ${level}:`, ...args)),
  });
  const result = await route.fn.handler(request, context);
  // A stalled body will not end: answer, then close the connection. (A body refused early is
  // still read and discarded, so that a sender writing it whole before reading gets the answer.)
  if (body?.stalled) res.setHeader('connection', 'close');
  await send(res, result instanceof HttpResponse ? result : (result ?? {}));
}

/**
 * What the Functions worker passes to HttpRequest in HTTP streaming mode (createStreamRequest in
 * Azure/azure-functions-nodejs-library src/http/HttpRequest.ts): a native Request, whose body is
 * the socket stream, and the route params. It is not the constructor's public (buffered) init, so
 * package.json pins @azure/functions to an exact version, and test/unit/azureFunctionsShape.test.ts
 * fails if a new version stops streaming a body given this way.
 */
export interface StreamingRequestInit {
  nativeRequest: Request;
  params: Record<string, string>;
}

export function streamingRequest(init: StreamingRequestInit): HttpRequest {
  return new HttpRequest(init);
}

/**
 * The request body, failed with an error once it arrives slower than `rate` while the handler
 * is waiting for it (time the handler is not reading does not count). The socket stays open so
 * that the answer can still be sent.
 */
function watchBodyRate(req: IncomingMessage, rate: { bytesPerSecond: number; graceMs: number }): PassThrough & { stalled?: boolean } {
  const body: PassThrough & { stalled?: boolean } = new PassThrough();
  let waitedMs = 0;
  let bytes = 0;
  let last = Date.now();
  req.on('data', (chunk: Buffer) => (bytes += chunk.length));
  const check = setInterval(
    () => {
      const now = Date.now();
      // The handler waits for data while the body flows and nothing is buffered for it.
      if (req.readableFlowing && body.readableLength === 0) waitedMs += now - last;
      last = now;
      if (waitedMs > rate.graceMs && bytes / (waitedMs / 1000) < rate.bytesPerSecond) {
        clearInterval(check);
        body.stalled = true;
        req.unpipe(body);
        req.resume(); // whatever still comes is discarded
        body.destroy(new Error(`The request body arrived slower than ${rate.bytesPerSecond} bytes/s.`));
      }
    },
    Math.min(1000, Math.max(50, rate.graceMs / 5)),
  );
  check.unref();
  const stop = () => clearInterval(check);
  req.once('end', stop);
  body.once('close', stop);
  // A sender that goes away ends the body with an error (pipe() alone would leave it open).
  const aborted = () => {
    stop();
    if (!req.complete) body.destroy(new Error('The request was aborted by the sender.'));
  };
  req.once('close', aborted).once('error', aborted);
  req.pipe(body);
  return body;
}

async function adminKeyValid(req: IncomingMessage, url: URL, options: LocalServerOptions): Promise<boolean> {
  const expected = await options.adminKey?.();
  const header = req.headers['x-functions-key'];
  const given = (Array.isArray(header) ? header[0] : header) || url.searchParams.get('code') || '';
  return !!expected && given !== '' && secretsEqual(given, expected);
}

/** Waits for the response to drain (or close), leaving no listener behind (a long download waits many times). */
function drainedOrClosed(res: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      res.off('drain', done).off('close', done);
      resolve();
    };
    res.once('drain', done).once('close', done);
  });
}

async function send(res: ServerResponse, result: HttpResponse | HttpResponseInit): Promise<void> {
  const response = result instanceof HttpResponse ? result : new HttpResponse(result);
  res.statusCode = response.status;
  for (const [k, v] of response.headers.entries()) res.setHeader(k, v);
  for (const c of response.cookies) {
    res.appendHeader(
      'set-cookie',
      `${c.name}=${c.value}${c.path ? `; Path=${c.path}` : ''}${c.httpOnly ? '; HttpOnly' : ''}${c.secure ? '; Secure' : ''}${c.sameSite ? `; SameSite=${c.sameSite}` : ''}${c.maxAge !== undefined ? `; Max-Age=${c.maxAge}` : ''}`,
    );
  }
  if (response.body) {
    for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
      if (res.destroyed) break; // the client went away: nobody reads the rest
      if (!res.write(chunk)) await drainedOrClosed(res);
    }
  }
  res.end();
}
