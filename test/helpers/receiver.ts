/** A loopback HTTP endpoint that receives forwarded scan jobs (multipart) and records them. */
import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import busboy from 'busboy';

export interface Received {
  fields: Record<string, string>;
  files: Array<{ field: string; name: string; sha256: string; size: number }>;
  headers: Record<string, string | string[] | undefined>;
}

export interface Receiver {
  url: string;
  /** Accepted (2xx) requests. */
  received: Received[];
  /** Every request, accepted or not. */
  requests: number;
  /** Answer the next requests with these statuses, in order (then 200). */
  failNext(...statuses: number[]): void;
  /** Resolves when `count` requests were accepted. */
  waitFor(count: number): Promise<void>;
  stop(): Promise<void>;
}

export async function startReceiver(): Promise<Receiver> {
  const queue: number[] = [];
  const received: Received[] = [];
  const waiters: Array<{ count: number; resolve: () => void }> = [];
  let requests = 0;
  const server: Server = createServer((req, res) => {
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
        received.push({ fields, files, headers: req.headers });
        for (const w of waiters.filter((w) => received.length >= w.count)) w.resolve();
      }
      res.writeHead(status, { 'content-type': 'text/plain' }).end(status < 300 ? 'ok' : `status ${status}`);
    });
    bb.on('error', () => res.writeHead(400).end('bad multipart'));
    req.pipe(bb);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}/api/scan`,
    received,
    get requests() {
      return requests;
    },
    failNext: (...statuses) => queue.push(...statuses),
    waitFor: (count) => (received.length >= count ? Promise.resolve() : new Promise((resolve) => waiters.push({ count, resolve }))),
    stop: () => new Promise<void>((r) => (server.closeAllConnections(), server.close(() => r()))),
  };
}
