/**
 * Ingest: turns one Extension request (multipart/form-data) into a durably stored scan job:
 * every file streamed into Blob Storage, every text field in a job record in Table Storage,
 * one message on the delivery queue. Either all of that exists and the job is `stored`, or
 * nothing of this request is left behind.
 */
import { randomUUID } from 'node:crypto';
import type { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ScanLimits } from '../config';
import { AppError, BadRequestError, UnauthorizedError } from '../errors';
import { describeError, silentLogger, type Logger } from '../log';
import type { SecretStore } from '../secrets';
import type { DeliveryQueue, EnqueueReceipt, ScanBlobStore, ScanJobRepository, StoredFile } from '../storage';
import { ScanBlobStore as Blobs } from '../storage/scanBlobs';
import { FileMeter, sniffContentType } from './fileMeter';
import { parseMultipart, type FilePart } from './multipart';
import { secretsEqual } from './sharedSecret';

/** The secret a sender's shared-secret field is compared with. */
export const EXTENSION_SHARED_SECRET = 'extension-shared-secret';

/**
 * Files of one request uploaded at once. busboy moves to the next part as soon as a file's
 * bytes are taken, and a file smaller than one upload buffer is taken whole: without a cap a
 * request of many small files would hold them all in memory. Waiting here holds back busboy,
 * and through it the sender (backpressure).
 */
const PARALLEL_FILE_UPLOADS = 2;

/** A pending claim older than this is taken to belong to a request that died. */
const STALE_CLAIM_MS = 10 * 60 * 1000;

export interface ScanRequest {
  contentType?: string;
  contentLength?: number;
  body: Readable;
  /** The sender's address as the front end saw it. */
  senderAddress?: string;
}

export interface IngestDeps {
  scanBlobs: Pick<ScanBlobStore, 'upload' | 'deleteJob'>;
  scanJobs: Pick<
    ScanJobRepository,
    'create' | 'markStored' | 'get' | 'delete' | 'claim' | 'takeOver' | 'completeClaim' | 'releaseClaim'
  >;
  deliveryQueue: Pick<DeliveryQueue, 'enqueue' | 'remove'>;
  secrets: Pick<SecretStore, 'get'>;
  limits: ScanLimits;
  /** When set, the field that must carry the shared secret. */
  sharedSecretField?: string;
  log?: Logger;
  /** How long a retry waits for a concurrent request with the same scanJobID (default 30 s). */
  duplicateWaitMs?: number;
}

export interface IngestResult {
  jobId: string;
  files: Array<Pick<StoredFile, 'name' | 'contentType' | 'size' | 'sha256'>>;
  /** True when the scanJobID was already stored: the first job's id is returned. */
  duplicate: boolean;
}

export async function ingestScan(request: ScanRequest, deps: IngestDeps): Promise<IngestResult> {
  const log = deps.log ?? silentLogger;
  const jobId = randomUUID();
  const receivedAt = new Date();
  const fields: Record<string, string> = Object.create(null);
  const files: StoredFile[] = [];
  const uploadSlots = new Slots(PARALLEL_FILE_UPLOADS);
  let secretSeen = false;

  let result: IngestResult;
  try {
    await parseMultipart(request.body, request.contentType, request.contentLength, deps.limits, {
      onField: (name, value) => {
        if (name === deps.sharedSecretField) {
          secretSeen = true;
          return checkSharedSecret(value, deps);
        }
        if (Object.hasOwn(fields, name)) {
          throw new BadRequestError('duplicate_field', `Field '${name}' is sent more than once.`);
        }
        fields[name] = value;
      },
      onFile: async (part) => {
        await uploadSlots.take();
        try {
          part.signal.throwIfAborted(); // the request failed while this part waited
          files[part.index] = await storeFile(jobId, part, deps);
        } finally {
          uploadSlots.give();
        }
      },
    });
    if (files.length === 0) {
      throw new BadRequestError('no_file', 'The request has no file part; attach the scan as a file (filename="...").');
    }
    if (deps.sharedSecretField && !secretSeen) {
      throw new UnauthorizedError(`The shared secret field '${deps.sharedSecretField}' is missing.`);
    }
    const scanJobId = fields['scanJobID']?.trim() || undefined;
    const job = { jobId, status: 'pending' as const, scanJobId, receivedAt, senderAddress: request.senderAddress, fields, files };
    result = await commit(job, deps, log);
  } catch (err) {
    await removeBlobs(jobId, deps, log);
    throw err;
  }
  // A duplicate answers with the first job: this request's copy of the files goes.
  if (result.duplicate) await removeBlobs(jobId, deps, log);
  log.info(result.duplicate ? 'scan: duplicate of a stored job' : 'scan: job stored', {
    jobId: result.jobId,
    files: files.length,
    bytes: files.reduce((n, f) => n + f.size, 0),
  });
  return result;
}

async function removeBlobs(jobId: string, deps: IngestDeps, log: Logger): Promise<void> {
  await deps.scanBlobs.deleteJob(jobId).catch((e) => log.error('scan: blob cleanup failed', { jobId, ...describeError(e) }));
}

async function checkSharedSecret(given: string, deps: IngestDeps): Promise<void> {
  const expected = await deps.secrets.get(EXTENSION_SHARED_SECRET);
  if (!secretsEqual(given, expected)) {
    throw new UnauthorizedError(`The shared secret in '${deps.sharedSecretField}' is wrong.`);
  }
}

async function storeFile(jobId: string, part: FilePart, deps: IngestDeps): Promise<StoredFile> {
  const label = `'${part.filename || part.field}'`;
  const head = await readFirstChunk(part.stream);
  if (!head) throw new BadRequestError('empty_file', `File ${label} is empty.`);

  const meter = new FileMeter(deps.limits.maxFileBytes, label);
  let meterError: unknown;
  meter.on('error', (e) => (meterError = e));
  part.stream.on('error', (e) => meter.destroy(e));
  meter.write(head);
  part.stream.pipe(meter);

  const contentType = sniffContentType(head) ?? part.declaredType;
  const blobName = Blobs.blobName(jobId, part.index);
  try {
    await deps.scanBlobs.upload(blobName, meter, {
      contentType,
      originalName: part.filename,
      abortSignal: part.signal,
    });
  } catch (err) {
    throw meterError instanceof AppError ? meterError : err;
  }
  if (meterError) throw meterError;
  return {
    field: part.field,
    name: part.filename,
    contentType,
    declaredContentType: part.declaredType,
    size: meter.size,
    sha256: meter.digest(),
    blobName,
  };
}

/** Resolves with the stream's first chunk, or null when it ends empty. */
function readFirstChunk(stream: Readable): Promise<Buffer | null> {
  if (stream.destroyed) return Promise.reject(new BadRequestError('request_aborted', 'A file part ended early.'));
  return new Promise((resolve, reject) => {
    const done = () => {
      stream.off('readable', onReadable).off('end', onEnd).off('error', onError).off('close', onClose);
    };
    const onReadable = () => {
      const chunk = stream.read() as Buffer | null;
      if (chunk !== null) {
        done();
        resolve(chunk);
      }
    };
    const onEnd = () => (done(), resolve(null));
    const onError = (err: Error) => (done(), reject(err));
    const onClose = () => (done(), reject(new BadRequestError('request_aborted', 'A file part ended early.')));
    stream.on('readable', onReadable).on('end', onEnd).on('error', onError).on('close', onClose);
  });
}

type NewJob = Parameters<ScanJobRepository['create']>[0];

/**
 * Claims the scanJobID, writes the record and the queue message, then marks the job stored.
 * On failure undoes what it wrote (the caller removes the blobs).
 */
async function commit(job: NewJob, deps: IngestDeps, log: Logger): Promise<IngestResult> {
  const { scanJobs, deliveryQueue } = deps;
  let claimEtag: string | undefined;
  if (job.scanJobId) {
    const claim = await claimScanJobId(job.scanJobId, job.jobId, deps);
    if (claim.duplicate) return claim.duplicate;
    claimEtag = claim.etag;
  }

  let recordWritten = false;
  let receipt: EnqueueReceipt | undefined;
  try {
    const etag = await scanJobs.create(job);
    recordWritten = true;
    receipt = await deliveryQueue.enqueue({ jobId: job.jobId });
    await scanJobs.markStored(job.jobId, etag);
    if (job.scanJobId) await scanJobs.completeClaim(job.scanJobId, claimEtag!);
  } catch (err) {
    log.error('scan: storing the job failed; rolling back', { jobId: job.jobId, ...describeError(err) });
    const undo: Array<Promise<unknown>> = [];
    if (receipt) undo.push(deliveryQueue.remove(receipt));
    if (recordWritten) undo.push(scanJobs.delete(job.jobId));
    if (job.scanJobId) undo.push(scanJobs.releaseClaim(job.scanJobId, claimEtag!));
    for (const r of await Promise.allSettled(undo)) {
      if (r.status === 'rejected') log.error('scan: rollback step failed', { jobId: job.jobId, ...describeError(r.reason) });
    }
    throw err;
  }
  return { jobId: job.jobId, files: job.files.map(publicFile), duplicate: false };
}

function publicFile(f: StoredFile): IngestResult['files'][number] {
  return { name: f.name, contentType: f.contentType, size: f.size, sha256: f.sha256 };
}

/**
 * Claims a scanJobID. A job already stored under it is a duplicate (its result is returned);
 * a claim still pending belongs to a concurrent request, which we wait for; a claim pending
 * for too long belongs to a request that died, and is taken over.
 */
async function claimScanJobId(
  scanJobId: string,
  jobId: string,
  deps: IngestDeps,
): Promise<{ etag: string; duplicate?: undefined } | { duplicate: IngestResult }> {
  const deadline = Date.now() + (deps.duplicateWaitMs ?? 30_000);
  for (;;) {
    const res = await deps.scanJobs.claim(scanJobId, jobId);
    if (res.claimed) return { etag: res.etag };
    const held = res.existing;
    if (held.status === 'stored') {
      const first = await deps.scanJobs.get(held.jobId);
      return { duplicate: { jobId: held.jobId, files: (first?.files ?? []).map(publicFile), duplicate: true } };
    }
    if (Date.now() - held.claimedAt.getTime() > STALE_CLAIM_MS) {
      const etag = await deps.scanJobs.takeOver(scanJobId, held, jobId);
      if (etag) return { etag };
      continue;
    }
    if (Date.now() > deadline) {
      throw new AppError(
        409,
        'duplicate_in_progress',
        'A scan job with the same scanJobID is still being stored; retry in a moment.',
        5,
      );
    }
    await sleep(200);
  }
}

/** A counting semaphore. */
class Slots {
  private readonly waiting: Array<() => void> = [];

  constructor(private free: number) {}

  async take(): Promise<void> {
    if (this.free > 0) {
      this.free--;
      return;
    }
    await new Promise<void>((resolve) => this.waiting.push(resolve));
  }

  give(): void {
    const next = this.waiting.shift();
    if (next) next();
    else this.free++;
  }
}
