/**
 * Puts a job's files into a folder of a OneDrive or SharePoint drive, with the administrator's
 * conflict behaviour when a file of that name exists:
 *   fail     → permanent failure, the existing file untouched (Graph `conflictBehavior=fail`);
 *   replace  → a new version of the existing file (`replace`);
 *   keepBoth → the new file gets a free name, `name 1.pdf` (`rename`);
 *   append   → PDF only: the new pages are added to the end of the existing document (downloaded,
 *              merged with pdf-lib, uploaded back with `If-Match` on the eTag read, so a concurrent
 *              change is never overwritten: 412 → retried from the queue).
 * Files up to `simpleUploadMaxBytes` (4 MiB, Graph's simple-upload limit) go in one PUT; larger ones
 * through an upload session in 320 KiB-multiple chunks (see uploadSession.ts), streamed from storage.
 */
import { Readable } from 'node:stream';
import { PDFDocument } from 'pdf-lib';
import { fileNames } from '../fileNames';
import { renderTemplate } from '../template';
import { PermanentDeliveryError, TransientDeliveryError, type DeliveryFile, type DeliveryJob } from '../types';
import type { Charge } from '../pacing';
import { graphStatus, type DeliveryGraph } from './client';
import { DEFAULT_CHUNK_BYTES, uploadToSession } from './uploadSession';

export const CONFLICT_BEHAVIORS = ['fail', 'replace', 'keepBoth', 'append'] as const;
export type ConflictBehavior = (typeof CONFLICT_BEHAVIORS)[number];

const GRAPH_BEHAVIOR: Record<Exclude<ConflictBehavior, 'append'>, string> = { fail: 'fail', replace: 'replace', keepBoth: 'rename' };

/** Graph's simple upload (PUT .../content) limit. */
export const SIMPLE_UPLOAD_MAX_BYTES = 4 * 1024 * 1024;
/** The largest existing document `append` downloads and merges in memory. */
export const APPEND_MAX_BYTES = 100 * 1024 * 1024;

export interface DriveFolderOptions {
  /** Folder template below the drive's root, `/`-separated, e.g. `Scans/%deviceName%`. */
  folder: string;
  /** File name template (see fileNames.ts); the sender's file name when absent. */
  fileName?: string;
  conflictBehavior: ConflictBehavior;
}

export interface DriveItem {
  id: string;
  name: string;
  eTag?: string;
  size?: number;
  webUrl?: string;
  '@microsoft.graph.downloadUrl'?: string;
}

/** The folder path, each segment a rendered template escaped as a drive item name. */
export function renderFolder(template: string, fields: Readonly<Record<string, string>>): string[] {
  return template
    .split('/')
    .filter((s) => s.trim() !== '')
    .map((s) => renderTemplate(s, fields, 'driveItemName'));
}

const encodePath = (segments: readonly string[]) => segments.map(encodeURIComponent).join('/');

/**
 * Uploads every file of the job into `folder` of the drive at `drivePath` (`/me/drive`,
 * `/users/{id}/drive`, `/drives/{id}`). Returns the uploaded items' web URLs (or names).
 */
export async function deliverToDrive(
  graph: DeliveryGraph,
  drivePath: string,
  job: DeliveryJob,
  options: DriveFolderOptions,
): Promise<string[]> {
  const folder = renderFolder(options.folder, job.fields);
  const names = fileNames(job, options.fileName, 'driveItemName');
  if (options.conflictBehavior === 'append') {
    const notPdf = job.files.find((f) => f.contentType !== 'application/pdf');
    if (notPdf)
      throw new PermanentDeliveryError('not_a_pdf', `"append" works for PDF documents only; this job has a ${notPdf.contentType} file.`);
  }
  const results: string[] = [];
  for (const [i, file] of job.files.entries()) {
    const itemPath = `${drivePath}/root:/${encodePath([...folder, names[i]!])}:`;
    const item =
      options.conflictBehavior === 'append'
        ? await appendPdf(graph, itemPath, file)
        : await upload(graph, itemPath, file.size, () => file.open(), GRAPH_BEHAVIOR[options.conflictBehavior]);
    results.push(item.webUrl ?? item.name);
  }
  return results;
}

/**
 * What a drive delivery spends of SharePoint's budget, the app's in the tenant (pacing.ts), in
 * resource units, generously: 2 per upload request (a simple PUT, or the session and each chunk),
 * 2 more per file to read and download the document `append` merges into ("2: create, update,
 * delete, upload"; "1: download",
 * https://learn.microsoft.com/sharepoint/dev/general-development/how-to-avoid-getting-throttled-or-blocked-in-sharepoint-online).
 */
export function drivePace(job: DeliveryJob, options: Pick<DriveFolderOptions, 'conflictBehavior'>): Charge[] {
  let units = 0;
  for (const f of job.files) {
    units += f.size <= SIMPLE_UPLOAD_MAX_BYTES ? 2 : 2 + 2 * Math.ceil(f.size / DEFAULT_CHUNK_BYTES);
    if (options.conflictBehavior === 'append') units += 2;
  }
  return [{ budget: 'sharePointUnits', key: 'sharepoint:tenant', amount: units }];
}

/** One file into `itemPath` (`.../root:/a/b.pdf:`), simple or by session. */
async function upload(
  graph: DeliveryGraph,
  itemPath: string,
  size: number,
  open: () => Promise<Readable>,
  behavior: string,
  ifMatch?: string,
): Promise<DriveItem> {
  const precondition: Record<string, string> = ifMatch ? { 'if-match': ifMatch } : {};
  try {
    if (size <= SIMPLE_UPLOAD_MAX_BYTES) {
      const body = await readAll(await open(), size);
      return await graph.json<DriveItem>(`${itemPath}/content?@microsoft.graph.conflictBehavior=${behavior}`, {
        method: 'PUT',
        body,
        headers: { 'content-type': 'application/octet-stream', ...precondition },
      });
    }
    const session = await graph.json<{ uploadUrl: string }>(`${itemPath}/createUploadSession`, {
      method: 'POST',
      json: { item: { '@microsoft.graph.conflictBehavior': behavior } },
      headers: precondition,
    });
    const result = await uploadToSession(graph, session.uploadUrl, await open(), size, DEFAULT_CHUNK_BYTES);
    return result.body as unknown as DriveItem;
  } catch (err) {
    const status = graphStatus(err);
    if (status === 409)
      throw new PermanentDeliveryError(
        'file_exists',
        `A file named '${decodeURIComponent(itemPath.split('/').pop()!.replace(/:$/, ''))}' already exists (conflictBehavior "fail").`,
      );
    if (status === 412)
      throw new TransientDeliveryError('upload_interrupted', 'The document changed while it was being appended to; trying again.');
    throw err;
  }
}

/** Appends the new PDF's pages to the existing document, or uploads it as new when there is none. */
async function appendPdf(graph: DeliveryGraph, itemPath: string, file: DeliveryFile): Promise<DriveItem> {
  const res = await graph.request(itemPath, { accept: [404] });
  if (res.status === 404) {
    await res.body?.cancel();
    return upload(graph, itemPath, file.size, () => file.open(), 'fail');
  }
  const existing = (await res.json()) as DriveItem;
  if ((existing.size ?? 0) + file.size > APPEND_MAX_BYTES) {
    throw new PermanentDeliveryError(
      'too_large',
      `"append": the existing document and the new one together exceed ${APPEND_MAX_BYTES} bytes.`,
    );
  }
  const downloadUrl = existing['@microsoft.graph.downloadUrl'];
  const current = downloadUrl
    ? Buffer.from(await (await graph.request(downloadUrl, { auth: false })).arrayBuffer())
    : Buffer.from(await (await graph.request(`${itemPath}/content`)).arrayBuffer());
  const merged = await mergePdfs(current, await readAll(await file.open(), file.size), existing.name);
  return upload(graph, itemPath, merged.length, () => Promise.resolve(Readable.from([merged])), 'replace', existing.eTag);
}

/** `first` followed by every page of `second`. */
export async function mergePdfs(first: Buffer, second: Buffer, name = 'the existing document'): Promise<Buffer> {
  let target: PDFDocument;
  let source: PDFDocument;
  try {
    target = await PDFDocument.load(first, { updateMetadata: false });
  } catch (err) {
    throw new PermanentDeliveryError(
      'not_a_pdf',
      `"append": '${name}' is not a PDF that can be appended to (${(err as Error).message.slice(0, 200)}).`,
    );
  }
  try {
    source = await PDFDocument.load(second, { updateMetadata: false });
  } catch (err) {
    throw new PermanentDeliveryError(
      'not_a_pdf',
      `"append": the scanned file is not a readable PDF (${(err as Error).message.slice(0, 200)}).`,
    );
  }
  const pages = await target.copyPages(source, source.getPageIndices());
  for (const page of pages) target.addPage(page);
  return Buffer.from(await target.save());
}

async function readAll(stream: Readable, size: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const c of stream) {
    chunks.push(c as Buffer);
    total += (c as Buffer).length;
    if (total > size) break;
  }
  stream.destroy();
  if (total !== size) throw new TransientDeliveryError('upload_interrupted', `The stored file has ${total} bytes, ${size} were expected.`);
  return Buffer.concat(chunks, total);
}
