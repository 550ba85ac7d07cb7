/**
 * HTTP plumbing shared by the local Microsoft Graph test servers (graphServer.ts, graphMailboxes.ts,
 * graphDirectoryServer.ts): the Graph error type and answer shape, JSON answers, body reading with a
 * size limit, draining, and the `Prefer` header.
 *
 * Error shape (https://learn.microsoft.com/graph/errors): `{ error: { code, message, innerError: { date,
 * request-id } } }`, every answer with a `request-id` header.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';

export const MIB = 1024 * 1024;

/** A Graph error answer: status, Graph error code, message, extra headers (shared by the Graph test servers). */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly headers: Record<string, string> = {},
    readonly extra: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

/** The connection was cut on purpose (a simulated network failure): nothing is answered. */
export class DroppedConnection extends Error {}

export const nowIso = () => new Date().toISOString();

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = body === undefined ? '' : JSON.stringify(body);
  res.writeHead(status, {
    ...(text ? { 'content-type': 'application/json; odata.metadata=minimal; charset=utf-8' } : {}),
    'content-length': Buffer.byteLength(text),
    'request-id': randomUUID(),
    ...headers,
  });
  res.end(text);
}

export function sendError(res: ServerResponse, e: HttpError): void {
  sendJson(
    res,
    e.status,
    { error: { code: e.code, message: e.message, innerError: { date: nowIso(), 'request-id': randomUUID() } }, ...e.extra },
    e.headers,
  );
}

/** Read the body up to `limit` bytes; over it → 413 (the rest is drained). */
export function readBody(req: IncomingMessage, limit: number, code = 'requestTooLarge'): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length'] ?? NaN);
    if (Number.isFinite(declared) && declared > limit) {
      req.resume();
      req.on('end', () => reject(new HttpError(413, code, `The request body is larger than ${limit} bytes.`)));
      req.on('error', reject);
      return;
    }
    const chunks: Buffer[] = [];
    let n = 0;
    let over = false;
    req.on('data', (c: Buffer) => {
      n += c.length;
      if (n > limit) over = true;
      if (!over) chunks.push(c);
    });
    req.on('end', () =>
      over ? reject(new HttpError(413, code, `The request body is larger than ${limit} bytes.`)) : resolve(Buffer.concat(chunks, n)),
    );
    req.on('error', reject);
  });
}

/** The body as JSON ({} when empty); not JSON → 400. */
export async function readJson(req: IncomingMessage, limit = 4 * MIB, code?: string): Promise<any> {
  const buf = await readBody(req, limit, code);
  if (buf.length === 0) return {};
  try {
    return JSON.parse(buf.toString('utf8'));
  } catch {
    throw new HttpError(400, 'BadRequest', 'Unable to read JSON request payload.');
  }
}

export function drain(req: IncomingMessage): Promise<void> {
  return new Promise((resolve) => {
    if (req.readableEnded || req.destroyed) return resolve();
    req.on('end', () => resolve());
    req.on('error', () => resolve());
    req.on('close', () => resolve());
    req.resume();
  });
}

/**
 * The preferences of a `Prefer` header (several headers or comma-separated), names lower-cased, values
 * unquoted: `IdType="ImmutableId", odata.maxpagesize=2` → { idtype: 'ImmutableId', 'odata.maxpagesize': '2' }.
 */
export function preferences(req: IncomingMessage): Record<string, string> {
  const raw = req.headers.prefer;
  const text = Array.isArray(raw) ? raw.join(',') : (raw ?? '');
  const out: Record<string, string> = {};
  for (const part of text.split(',')) {
    const m = /^\s*([^=\s]+)\s*(?:=\s*(?:"([^"]*)"|(\S*)))?\s*$/.exec(part);
    if (m) out[m[1]!.toLowerCase()] = m[2] ?? m[3] ?? '';
  }
  return out;
}
