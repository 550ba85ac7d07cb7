/**
 * An HTTP proxy in front of one Azurite service that can hold a chosen request: the request is
 * not forwarded, and `held` resolves, so that a test can kill the app at exactly that step of a
 * multi-step write (after the claim, before the queue message, ...). Requests are forwarded
 * unchanged (SharedKey signatures cover the path, not the port).
 */
import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface HoldRule {
  method?: RegExp;
  path: RegExp;
  /** Also match the request body (read whole first: for table requests, which are small). */
  body?: RegExp;
}

export interface StorageProxy {
  port: number;
  /** Holds the next request matching `rule`; resolves with its path once it arrived. */
  holdNext(rule: HoldRule): Promise<string>;
  /** Drops every held request (their clients see the connection close). */
  releaseHeld(): void;
  stop(): Promise<void>;
}

export async function startStorageProxy(targetPort: number): Promise<StorageProxy> {
  let rule: { rule: HoldRule; resolve: (path: string) => void } | undefined;
  const held: Array<{ req: IncomingMessage; res: ServerResponse }> = [];
  const forward = (req: IncomingMessage, res: ServerResponse, body?: Buffer) => {
    const upstream = request({ host: '127.0.0.1', port: targetPort, method: req.method, path: req.url, headers: req.headers }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    upstream.on('error', () => res.destroy());
    if (body) upstream.end(body);
    else req.pipe(upstream);
  };
  const server: Server = createServer((req, res) => {
    const path = req.url ?? '/';
    const r = rule;
    if (!r || (r.rule.method && !r.rule.method.test(req.method ?? '')) || !r.rule.path.test(path)) return forward(req, res);
    const hold = () => {
      rule = undefined;
      held.push({ req, res });
      r.resolve(path);
    };
    if (!r.rule.body) {
      req.resume();
      return hold();
    }
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      if (rule === r && r.rule.body!.test(body.toString('utf8'))) hold();
      else forward(req, res, body);
    });
  });
  server.keepAliveTimeout = 1000;
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as AddressInfo).port,
    holdNext: (r) => new Promise<string>((resolve) => (rule = { rule: r, resolve })),
    releaseHeld: () => {
      for (const h of held.splice(0)) h.res.destroy();
    },
    stop: () =>
      new Promise<void>((resolve) => {
        for (const h of held.splice(0)) h.res.destroy();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
