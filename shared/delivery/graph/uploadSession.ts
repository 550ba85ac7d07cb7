/**
 * Uploads a stream to a Graph upload session (drive items and Outlook attachments), chunk by chunk:
 * only one chunk is in memory at a time, so a 500 MB scan costs one chunk of RAM.
 *
 * Documented rules followed (driveitem-createuploadsession, outlook-large-attachments):
 * - every chunk but the last is a multiple of 320 KiB (Outlook: each below 4 MB);
 * - `Content-Range: bytes a-b/total` with `Content-Length`, in order, and no Authorization header;
 * - an interrupted or failed chunk: ask the session (`GET uploadUrl`) for `nextExpectedRanges` and
 *   resend from there ("all bytes in that request are ignored");
 * - 416: the server has other bytes than we thought: resynchronise from `nextExpectedRanges`;
 * - 429/503 with Retry-After: wait and resend (through the Graph client, shared/graph);
 * - 404: the session is gone (expired): the whole upload must start over, which the queue retry does.
 */
import type { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { PermanentDeliveryError, TransientDeliveryError } from '../types';
import type { DeliveryGraph } from './client';

export const KIB_320 = 320 * 1024;
/** 10 × 320 KiB = 3.125 MiB: a multiple of 320 KiB and below Outlook's 4 MB per request. */
export const DEFAULT_CHUNK_BYTES = 10 * KIB_320;
/** Attempts per chunk (interruptions, 5xx) before the delivery goes back to the queue. */
const CHUNK_ATTEMPTS = 5;

/** Cuts a stream into chunks of exactly `size` bytes (the last one shorter), copying into one buffer per chunk. */
export async function* fixedChunks(source: Readable, size: number): AsyncGenerator<Buffer> {
  let buf = Buffer.allocUnsafe(size);
  let filled = 0;
  for await (const piece of source) {
    let data = piece as Buffer;
    while (data.length > 0) {
      const n = Math.min(size - filled, data.length);
      data.copy(buf, filled, 0, n);
      filled += n;
      data = data.subarray(n);
      if (filled === size) {
        yield buf;
        buf = Buffer.allocUnsafe(size);
        filled = 0;
      }
    }
  }
  if (filled > 0) yield buf.subarray(0, filled);
}

/** The first byte the session expects next, from `nextExpectedRanges` (`"12345-"` for drives, `"12345"` for Outlook). */
export function nextExpectedStart(status: { nextExpectedRanges?: string[] }): number | undefined {
  const first = status.nextExpectedRanges?.[0];
  if (first === undefined) return undefined;
  const n = Number.parseInt(first, 10);
  return Number.isFinite(n) ? n : undefined;
}

export interface SessionUploadResult {
  /** The final response's JSON (the driveItem; for Outlook attachments, often empty). */
  body: Record<string, unknown>;
  status: number;
  headers: Headers;
}

/**
 * Sends `source` (exactly `size` bytes) to `uploadUrl`. Returns the response to the last chunk.
 * `size` 0 is not supported by sessions: use a simple upload.
 */
export async function uploadToSession(
  graph: DeliveryGraph,
  uploadUrl: string,
  source: Readable,
  size: number,
  chunkBytes = DEFAULT_CHUNK_BYTES,
): Promise<SessionUploadResult> {
  let offset = 0;
  try {
    for await (const chunk of fixedChunks(source, chunkBytes)) {
      const end = offset + chunk.length;
      const result = await sendChunk(graph, uploadUrl, chunk, offset, size);
      offset = end;
      if (result) {
        if (offset !== size)
          throw new TransientDeliveryError('upload_interrupted', `The upload session finished at byte ${offset} of ${size}.`);
        return result;
      }
    }
  } finally {
    source.destroy();
  }
  throw new TransientDeliveryError('upload_interrupted', `The stored file ended after ${offset} of ${size} bytes.`);
}

/** Sends one chunk (resending the part the session did not keep). Returns the final response after the last byte. */
async function sendChunk(
  graph: DeliveryGraph,
  uploadUrl: string,
  chunk: Buffer,
  chunkStart: number,
  size: number,
): Promise<SessionUploadResult | undefined> {
  let from = chunkStart;
  const chunkEnd = chunkStart + chunk.length;
  for (let attempt = 1; ; attempt++) {
    const part = chunk.subarray(from - chunkStart);
    let res: Response | undefined;
    let failure: Error | undefined;
    try {
      res = await graph.request(uploadUrl, {
        method: 'PUT',
        auth: false,
        body: part,
        headers: { 'content-range': `bytes ${from}-${chunkEnd - 1}/${size}`, 'content-type': 'application/octet-stream' },
        accept: [404, 416],
      });
    } catch (err) {
      // Refused (409 name taken at commit, 413...): resending cannot help.
      if (err instanceof PermanentDeliveryError) throw err;
      // Interrupted (network) or failed after the Graph client's own retries: find out what was kept.
      failure = err as Error;
    }
    if (res?.status === 404) {
      await res.body?.cancel();
      throw new TransientDeliveryError(
        'upload_interrupted',
        'The upload session expired or was cancelled; the upload starts over on the next attempt.',
      );
    }
    if (res && res.status !== 416) {
      // 202 (drives) or 200 (Outlook) after an intermediate chunk; 200/201 with the result after the last.
      if (chunkEnd < size) {
        await res.body?.cancel();
        return undefined;
      }
      const body = (await res.json().catch(() => ({}))) as Record<string, unknown>;
      return { body, status: res.status, headers: res.headers };
    }
    if (res) await res.body?.cancel();
    if (attempt >= CHUNK_ATTEMPTS)
      throw failure ?? new TransientDeliveryError('upload_interrupted', `Bytes ${from}-${chunkEnd - 1} were refused ${attempt} times.`);
    if (failure) await sleep(Math.min(2 ** attempt, 10) * 100);
    const next = await expectedStart(graph, uploadUrl);
    if (next === undefined || next < chunkStart || next > chunkEnd) {
      throw new TransientDeliveryError(
        'upload_interrupted',
        `The upload session expects byte ${next ?? '?'}, outside the chunk ${chunkStart}-${chunkEnd - 1}; the upload starts over.`,
      );
    }
    if (next === chunkEnd) return undefined; // the interrupted request was kept after all
    from = next;
  }
}

async function expectedStart(graph: DeliveryGraph, uploadUrl: string): Promise<number | undefined> {
  const res = await graph.request(uploadUrl, { auth: false, accept: [404] });
  if (res.status === 404) {
    await res.body?.cancel();
    throw new TransientDeliveryError(
      'upload_interrupted',
      'The upload session expired or was cancelled; the upload starts over on the next attempt.',
    );
  }
  return nextExpectedStart((await res.json()) as { nextExpectedRanges?: string[] });
}
