/** Real HTTP over loopback with node:http (which reads an early answer while still sending). */
import { request } from 'node:http';
import { connect } from 'node:net';
import type { Readable } from 'node:stream';

export interface HttpResult {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  json: any;
}

export function httpRequest(
  url: string,
  options: { method?: string; headers?: Record<string, string | number>; body?: Buffer | Readable } = {},
): Promise<HttpResult> {
  return new Promise((resolve, reject) => {
    // A connection per request: a test that lies about Content-Length cannot disturb the next one.
    const req = request(url, { method: options.method ?? 'GET', headers: options.headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let json: unknown;
        try {
          json = JSON.parse(text);
        } catch {
          json = undefined;
        }
        resolve({ status: res.statusCode!, headers: res.headers, text, json });
      });
      res.on('error', reject);
    });
    // The server may answer and stop reading before the whole body is sent: that is not a failure.
    req.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code !== 'EPIPE' && err.code !== 'ECONNRESET') reject(err);
    });
    const body = options.body;
    if (!body) req.end();
    else if (Buffer.isBuffer(body)) req.end(body);
    else body.pipe(req);
  });
}

export function postMultipart(url: string, mp: { contentType: string; body: Buffer }, headers: Record<string, string> = {}) {
  return httpRequest(url, {
    method: 'POST',
    headers: { 'content-type': mp.contentType, 'content-length': mp.body.length, ...headers },
    body: mp.body,
  });
}

export interface RawExchange {
  status: number;
  headers: Record<string, string>;
  text: string;
  json: any;
  /** True when the server closed the connection after answering. */
  closed: boolean;
}

/**
 * Writes bytes to a raw TCP connection, exactly as given (a number in `pieces` pauses that many
 * milliseconds between writes), and reads one HTTP/1.1 answer. After the last piece the
 * connection stays open (`hangUp`: it is closed, as a sender that goes away). Rejects when no
 * answer comes within `timeoutMs` (the safety net that turns a hang into a failure).
 */
export function rawHttp(
  url: string,
  pieces: Array<Buffer | string | number>,
  options: { hangUp?: boolean; timeoutMs?: number } = {},
): Promise<RawExchange> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect({ host: hostname === 'localhost' ? '127.0.0.1' : hostname, port: Number(port) });
    socket.setNoDelay(true);
    let received = Buffer.alloc(0);
    let settled = false;
    const timer = setTimeout(() => finish(new Error(`no answer within ${options.timeoutMs ?? 20_000} ms`)), options.timeoutMs ?? 20_000);
    const finish = (err?: Error, result?: RawExchange) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      if (err) reject(err);
      else resolve(result!);
    };
    const tryParse = (closed: boolean) => {
      const end = received.indexOf('\r\n\r\n');
      if (end < 0)
        return closed ? finish(new Error(`connection closed without an answer: ${received.toString('latin1').slice(0, 200)}`)) : undefined;
      const [statusLine, ...lines] = received.subarray(0, end).toString('latin1').split('\r\n');
      const headers: Record<string, string> = {};
      for (const l of lines) headers[l.slice(0, l.indexOf(':')).toLowerCase()] = l.slice(l.indexOf(':') + 1).trim();
      const length = Number(headers['content-length'] ?? NaN);
      let body = received.subarray(end + 4);
      if (headers['transfer-encoding'] === 'chunked') {
        const parts: Buffer[] = [];
        for (;;) {
          const nl = body.indexOf('\r\n');
          if (nl < 0) return closed ? finish(new Error('truncated chunked answer')) : undefined;
          const size = parseInt(body.subarray(0, nl).toString('latin1'), 16);
          if (size === 0) break;
          if (body.length < nl + 2 + size + 2) return closed ? finish(new Error('truncated chunked answer')) : undefined;
          parts.push(body.subarray(nl + 2, nl + 2 + size));
          body = body.subarray(nl + 2 + size + 2);
        }
        body = Buffer.concat(parts);
      } else if (Number.isFinite(length)) {
        if (body.length < length) return closed ? finish(new Error('truncated answer')) : undefined;
        body = body.subarray(0, length);
      } else if (!closed) return undefined;
      const text = body.toString('utf8');
      let json: unknown;
      try {
        json = JSON.parse(text);
      } catch {
        json = undefined;
      }
      const status = Number(statusLine!.split(' ')[1]);
      // Give a closing server a moment to be seen closing: the answer is complete either way.
      setImmediate(() => finish(undefined, { status, headers, text, json, closed: closed || socket.readableEnded }));
    };
    socket.on('data', (d: Buffer) => {
      received = Buffer.concat([received, d]);
      tryParse(false);
    });
    socket.on('end', () => tryParse(true));
    socket.on('error', (err: NodeJS.ErrnoException) => {
      // The server may answer and close while we still send: read what came.
      if (err.code === 'EPIPE' || err.code === 'ECONNRESET') tryParse(true);
      else finish(err);
    });
    socket.on('connect', () => void send());
    const send = async () => {
      for (const piece of pieces) {
        if (settled) return;
        if (typeof piece === 'number') await new Promise((r) => setTimeout(r, piece));
        else if (!socket.write(piece)) await new Promise((r) => socket.once('drain', r));
      }
      if (options.hangUp && !settled) finish(new Error('hung up'));
    };
  });
}

/** A raw HTTP/1.1 POST's head. */
export function postHead(url: string, headers: Record<string, string | number>): Buffer {
  const { pathname, host } = new URL(url);
  const lines = [`POST ${pathname} HTTP/1.1`, `Host: ${host}`, ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`), '', ''];
  return Buffer.from(lines.join('\r\n'), 'latin1');
}
