/**
 * A job's file (GET /api/jobs/{jobId}/files/{index}), streamed from Blob Storage through the
 * function: never buffered, never a SAS. It is served as an attachment whatever it holds, with
 * the sender's name made safe for the header, and a type only when ScanRelay recognised the bytes.
 */
import type { Readable } from 'node:stream';
import { AppError, BadRequestError } from '../errors';
import { attachmentDisposition } from '../storage';
import { findJob } from './detail';
import type { JobsDeps } from './types';

/** The types ingest recognises from a file's first bytes (shared/ingest/fileMeter.ts); anything else is served as bytes. */
const RECOGNISED_TYPES = new Set(['application/pdf', 'image/jpeg', 'image/tiff', 'image/png']);

export interface JobFile {
  stream: Readable;
  headers: Record<string, string>;
}

export async function openJobFile(deps: Pick<JobsDeps, 'scanJobs' | 'scanBlobs'>, jobId: string, index: string): Promise<JobFile> {
  if (!/^\d{1,6}$/.test(index))
    throw new BadRequestError('invalid_file_index', 'The file index must be a whole number (the first file is 0).');
  const job = await findJob(deps, jobId);
  if (job.status === 'abandoned') throw new AppError('job_not_found', `There is no scan job '${jobId}'.`);
  if (job.status !== 'stored') throw new AppError('job_not_stored', 'The job is still being stored; try again in a moment.', 5);
  const file = job.files[Number(index)];
  if (!file) throw new AppError('file_not_found', `Job ${jobId} has ${job.files.length} file(s), numbered from 0.`);
  const blob = await deps.scanBlobs.open(file.blobName);
  if (!blob) throw new AppError('file_gone', `File ${index} of job ${jobId} is no longer stored (the retention rule deletes files).`);
  const headers: Record<string, string> = {
    'content-type': RECOGNISED_TYPES.has(file.contentType) ? file.contentType : 'application/octet-stream',
    'content-disposition': attachmentDisposition(file.name),
    'x-content-type-options': 'nosniff',
    'content-security-policy': "default-src 'none'; sandbox",
    'cache-control': 'private, no-store',
  };
  if (blob.contentLength !== undefined) headers['content-length'] = String(blob.contentLength);
  return { stream: blob.stream, headers };
}
