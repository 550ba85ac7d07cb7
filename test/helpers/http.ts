/** Real HTTP over loopback with node:http (which reads an early answer while still sending). */
import { request } from 'node:http';
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
