/**
 * A loopback HTTPS endpoint (the test certificate, 127.0.0.1) that receives JSON POSTs, as a
 * webhook or a Teams Workflows trigger does, and records them; it can answer the next requests
 * with other statuses (and a Retry-After) to test retries.
 */
import { readFileSync } from 'node:fs';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';

const TLS_DIR = join(__dirname, '..', 'fixtures', 'tls');

export interface JsonRequest {
  path: string;
  headers: Record<string, string | string[] | undefined>;
  body: unknown;
  status: number;
}

export interface JsonReceiver {
  /** https://127.0.0.1:<port> */
  url: string;
  /** Every request, answered 2xx or not. */
  requests: JsonRequest[];
  /** The bodies answered 2xx, in order. */
  accepted(): unknown[];
  /** Answer the next requests with these statuses, in order (then 200); `retryAfter` adds the header. */
  failNext(...answers: Array<number | { status: number; retryAfter?: number }>): void;
  /** Resolves when `count` requests were accepted. */
  waitFor(count: number): Promise<void>;
  stop(): Promise<void>;
}

export async function startJsonReceiver(): Promise<JsonReceiver> {
  const requests: JsonRequest[] = [];
  const queue: Array<{ status: number; retryAfter?: number }> = [];
  const waiters: Array<{ count: number; resolve: () => void }> = [];
  const accepted = () => requests.filter((r) => r.status < 300).map((r) => r.body);
  const server = createServer(
    { key: readFileSync(join(TLS_DIR, 'server-key.pem')), cert: readFileSync(join(TLS_DIR, 'server.pem')) },
    (req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const answer = queue.shift() ?? { status: 200 };
        let body: unknown;
        try {
          body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
        } catch {
          body = undefined;
          answer.status = 400;
        }
        requests.push({ path: req.url ?? '', headers: req.headers, body, status: answer.status });
        res.writeHead(answer.status, {
          'content-type': 'text/plain',
          ...(answer.retryAfter !== undefined ? { 'retry-after': String(answer.retryAfter) } : {}),
        });
        res.end(answer.status < 300 ? 'ok' : `failed with ${answer.status}`);
        const n = accepted().length;
        for (const w of waiters.filter((w) => n >= w.count)) w.resolve();
      });
    },
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `https://127.0.0.1:${port}`,
    requests,
    accepted,
    failNext: (...answers) => queue.push(...answers.map((a) => (typeof a === 'number' ? { status: a } : a))),
    waitFor: (count) => (accepted().length >= count ? Promise.resolve() : new Promise<void>((resolve) => waiters.push({ count, resolve }))),
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
