/**
 * A loopback HTTP endpoint that receives forwarded scan jobs (multipart) and records them; HTTPS
 * with the given certificate and key (`tls`), recording the SNI server name each request came with.
 */
import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import busboy from 'busboy';

export interface Received {
  fields: Record<string, string>;
  files: Array<{ field: string; name: string; sha256: string; size: number }>;
  headers: Record<string, string | string[] | undefined>;
  /** HTTPS: the server name the client sent (SNI), false when it sent none. */
  servername?: string | false;
}

export interface ReceiverOptions {
  /** Serve HTTPS with this certificate (PEM) and key. */
  tls?: { cert: string | Buffer; key: string | Buffer };
  /** The address to listen on (default 127.0.0.1). */
  host?: string;
}

export interface Receiver {
  url: string;
  /** Accepted (2xx) requests. */
  received: Received[];
  /** Every request, accepted or not. */
  requests: number;
  /** Answer the next requests with these statuses, in order (then 200); a 429 says `Retry-After: 120`. */
  failNext(...statuses: number[]): void;
  /** Resolves when `count` requests were accepted. */
  waitFor(count: number): Promise<void>;
  stop(): Promise<void>;
}

export async function startReceiver(options: ReceiverOptions = {}): Promise<Receiver> {
  const queue: number[] = [];
  const received: Received[] = [];
  const waiters: Array<{ count: number; resolve: () => void }> = [];
  let requests = 0;
  const handler = (req: IncomingMessage, res: ServerResponse) => {
    requests++;
    const fields: Record<string, string> = {};
    const files: Received['files'] = [];
    const bb = busboy({ headers: req.headers, defParamCharset: 'utf8' });
    bb.on('field', (name, value) => (fields[name] = value));
    bb.on('file', (field, stream, info) => {
      const hash = createHash('sha256');
      let size = 0;
      stream.on('data', (c: Buffer) => (hash.update(c), (size += c.length)));
      stream.on('end', () => files.push({ field, name: info.filename ?? '', sha256: hash.digest('hex'), size }));
    });
    bb.on('close', () => {
      const status = queue.shift() ?? 200;
      if (status < 300) {
        const servername = options.tls ? (req.socket as TLSSocket).servername || false : undefined;
        received.push({ fields, files, headers: req.headers, ...(options.tls ? { servername } : {}) });
        for (const w of waiters.filter((w) => received.length >= w.count)) w.resolve();
      }
      res
        .writeHead(status, { 'content-type': 'text/plain', ...(status === 429 ? { 'retry-after': '120' } : {}) })
        .end(status < 300 ? 'ok' : `status ${status}`);
    });
    bb.on('error', () => res.writeHead(400).end('bad multipart'));
    req.pipe(bb);
  };
  const server: Server = options.tls ? createHttpsServer({ cert: options.tls.cert, key: options.tls.key }, handler) : createServer(handler);
  // A client that refuses the certificate aborts the handshake: nothing to record.
  server.on('tlsClientError', () => undefined);
  const host = options.host ?? '127.0.0.1';
  await new Promise<void>((r) => server.listen(0, host, r));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `${options.tls ? 'https' : 'http'}://${host.includes(':') ? `[${host}]` : host}:${port}/api/scan`,
    received,
    get requests() {
      return requests;
    },
    failNext: (...statuses) => queue.push(...statuses),
    waitFor: (count) => (received.length >= count ? Promise.resolve() : new Promise((resolve) => waiters.push({ count, resolve }))),
    stop: () => new Promise<void>((r) => (server.closeAllConnections(), server.close(() => r()))),
  };
}
