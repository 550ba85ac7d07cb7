/**
 * Ingest: turns one Extension request (multipart/form-data) into a durably stored scan job:
 * every file streamed into Blob Storage, every text field in a job record in Table Storage,
 * one message on the delivery queue. Either all of that exists and the job is `stored`, or
 * nothing of this request is left behind: this request removes it, or, when the process died,
 * the ingest sweeper does (see sweeper.ts and docs/architecture.md).
 */
import { randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { Semaphore } from '../concurrency';
import type { ScanLimits } from '../config';
import { AppError, BadRequestError, UnauthorizedError } from '../errors';
import { describeError, silentLogger, type Logger } from '../log';
import { secretsEqual, type SecretStore } from '../secrets';
import {
  indexEntryOf,
  ScanBlobStore,
  type DeliveryQueue,
  type EnqueueReceipt,
  type IngestLeaseRepository,
  type JobIndexRepository,
  type ScanJobRepository,
  type StoredFile,
} from '../storage';
import { FileMeter, sniffContentType } from './fileMeter';
import { parseMultipart, SNIFF_BYTES, type FilePart } from './multipart';
import { DEFAULT_LEASE_MS, ingestAlive, interrupted, OwnerLease } from './ownerLease';

export { sweepIngests, type SweepDeps, type SweepResult } from './sweeper';
export { DEFAULT_LEASE_MS, ingestAlive } from './ownerLease';

/** scanJobIDs with this prefix are the idempotency keys of jobs from a mailbox (shared/mailbox); a sender may not use them. */
export const MAILBOX_KEY_PREFIX = 'mailbox:';

/** The secret a sender's shared-secret field is compared with. */
export const EXTENSION_SHARED_SECRET = 'extension-shared-secret';

/**
 * Files of one request uploaded at once. A file smaller than one upload buffer is held whole
 * until it is uploaded: without a cap a request of many small files would hold them all in
 * memory. Waiting here holds back the reader, and through it the sender (backpressure).
 */
const PARALLEL_FILE_UPLOADS = 2;

export interface ScanRequest {
  contentType?: string;
  contentLength?: number;
  /** Content-Encoding, when the sender gave one. */
  contentEncoding?: string;
  body: Readable;
  /** The sender's address as the front end saw it. */
  senderAddress?: string;
}

export interface IngestDeps {
  scanBlobs: Pick<ScanBlobStore, 'upload' | 'deleteJob'>;
  scanJobs: Pick<ScanJobRepository, 'create' | 'get' | 'claim' | 'takeOver' | 'completeClaim' | 'releaseClaim'>;
  ingestLeases: Pick<IngestLeaseRepository, 'create' | 'get' | 'renew' | 'delete'>;
  /** The job index: a stored job's row is written once it is stored. */
  jobIndex: Pick<JobIndexRepository, 'insert'>;
  deliveryQueue: Pick<DeliveryQueue, 'enqueue' | 'remove'>;
  secrets: Pick<SecretStore, 'get'>;
  limits: ScanLimits;
  /** When set, the field that must carry the shared secret. */
  sharedSecretField?: string;
  log?: Logger;
  /** How long a retry waits for a concurrent request with the same scanJobID (default 30 s). */
  duplicateWaitMs?: number;
  /** The owner lease's length (default 30 s). */
  leaseMs?: number;
}

export interface IngestResult {
  jobId: string;
  files: Array<Pick<StoredFile, 'name' | 'contentType' | 'size' | 'sha256'>>;
  /** True when the scanJobID was already stored: the first job's id is returned. */
  duplicate: boolean;
}

export async function ingestScan(request: ScanRequest, deps: IngestDeps): Promise<IngestResult> {
  const log = deps.log ?? silentLogger;
  const encoding = request.contentEncoding?.trim().toLowerCase();
  if (encoding && encoding !== 'identity') {
    throw new AppError(
      'unsupported_content_encoding',
      `Content-Encoding '${encoding.slice(0, 40)}' is not accepted; send the body uncompressed.`,
    );
  }
  const jobId = randomUUID();
  const receivedAt = new Date();
  const fields = Object.create(null) as Record<string, string>;
  const files: StoredFile[] = [];
  const uploadSlots = new Semaphore(PARALLEL_FILE_UPLOADS);
  const owner = new OwnerLease(jobId, deps);
  let secretSeen = false;

  const result = await storing(jobId, owner, deps, log, async (undo) => {
    await parseMultipart(
      request.body,
      request.contentType,
      request.contentLength,
      deps.limits,
      {
        onField: (name, value) => {
          if (name === deps.sharedSecretField) {
            secretSeen = true;
            return checkSharedSecret(value, deps);
          }
          if (name === 'scanJobID' && value.trim().toLowerCase().startsWith(MAILBOX_KEY_PREFIX)) {
            throw new BadRequestError(
              'reserved_scan_job_id',
              `A scanJobID starting with '${MAILBOX_KEY_PREFIX}' is reserved for jobs from a mailbox; send another.`,
            );
          }
          if (Object.hasOwn(fields, name)) {
            throw new BadRequestError('duplicate_field', `Field '${name.slice(0, 80)}' is sent more than once.`);
          }
          fields[name] = value;
        },
        onFile: async (part) => {
          if (part.head.length === 0) {
            part.stream.resume();
            throw new BadRequestError('empty_file', `File '${label(part)}' is empty.`);
          }
          // The lease is written while the first file streams in; the file's blob cannot be
          // committed before it exists (see storeFile).
          const leased = owner.start(fields['scanJobID']?.trim() || undefined);
          leased.catch(() => undefined);
          await uploadSlots.take();
          try {
            part.signal.throwIfAborted(); // the request failed while this part waited
            files[part.index] = await storeFile(jobId, part, deps, leased);
          } finally {
            uploadSlots.give();
          }
        },
      },
      owner.signal,
    );
    if (files.length === 0) {
      throw new BadRequestError('no_file', 'The request has no file part; attach the scan as a file (filename="...").');
    }
    if (deps.sharedSecretField && !secretSeen) {
      throw new UnauthorizedError(`The shared secret field '${deps.sharedSecretField}' is missing.`);
    }
    const scanJobId = fields['scanJobID']?.trim() || undefined;
    const job = { jobId, status: 'stored' as const, scanJobId, receivedAt, senderAddress: request.senderAddress, fields, files };
    return commit(job, deps, owner, undo, log);
  });
  log.info(result.duplicate ? 'scan: duplicate of a stored job' : 'scan: job stored', {
    jobId: result.jobId,
    files: files.length,
    bytes: files.reduce((n, f) => n + f.size, 0),
  });
  return result;
}

/** A file of a job that does not come from a multipart request (a mail attachment): opened when its turn comes. */
export interface JobFile {
  /** Where it came from (the attachment's id, for the job's record). */
  field: string;
  /** The sender's file name (metadata only). */
  name: string;
  declaredType: string;
  open(signal: AbortSignal): Promise<Readable>;
}

export interface JobInput {
  fields: Record<string, string>;
  /** The idempotency key: a second input with the same key answers with the first job. */
  scanJobId: string;
  files: readonly JobFile[];
}

/**
 * Stores a job whose files come from elsewhere (a mailbox) through the same path as a scan
 * request: each file streamed into its blob (one at a time), then the claim of `scanJobId`, the
 * record and the queue message, all or nothing, with the same owner lease and sweeper.
 */
export async function ingestFiles(input: JobInput, deps: IngestDeps): Promise<IngestResult> {
  const log = deps.log ?? silentLogger;
  const jobId = randomUUID();
  const owner = new OwnerLease(jobId, deps);
  const files: StoredFile[] = [];
  return storing(jobId, owner, deps, log, async (undo) => {
    if (input.files.length === 0) throw new BadRequestError('no_file', 'The job has no file.');
    const leased = owner.start(input.scanJobId);
    leased.catch(() => undefined);
    for (const [index, file] of input.files.entries()) {
      owner.signal.throwIfAborted();
      const { head, stream } = await withHead(await file.open(owner.signal));
      if (head.length === 0) {
        stream.destroy();
        throw new BadRequestError('empty_file', `File '${label({ filename: file.name, field: file.field })}' is empty.`);
      }
      const part = { index, field: file.field, filename: file.name, declaredType: file.declaredType, head, stream, signal: owner.signal };
      files.push(await storeFile(jobId, part, deps, leased));
    }
    const job = {
      jobId,
      status: 'stored' as const,
      scanJobId: input.scanJobId,
      receivedAt: new Date(),
      fields: { ...input.fields },
      files,
    };
    return commit(job, deps, owner, undo, log);
  });
}

/**
 * How far a failed commit got undone. `incomplete`: a step of the undo failed, so the lease stays
 * and the sweeper finishes it. `unknown`: whether the job got stored cannot be told, so blobs,
 * claim, message and lease all stay, and the sweeper decides from the record.
 */
interface Undo {
  incomplete: boolean;
  unknown: boolean;
}

/**
 * Runs the storing of one job. When it fails, this attempt's blobs go, then its lease, which goes
 * only once nothing is left (see Undo). A duplicate answers with the first job: this attempt's
 * copy of the files goes too.
 */
async function storing(
  jobId: string,
  owner: OwnerLease,
  deps: IngestDeps,
  log: Logger,
  work: (undo: Undo) => Promise<IngestResult>,
): Promise<IngestResult> {
  const undo: Undo = { incomplete: false, unknown: false };
  let result: IngestResult;
  try {
    result = await work(undo);
  } catch (err) {
    await owner.stopRenewing();
    if (!undo.unknown && (await removeBlobs(jobId, deps, log)) && !undo.incomplete) await owner.release();
    throw err;
  }
  if (result.duplicate) {
    await owner.stopRenewing();
    if (await removeBlobs(jobId, deps, log)) await owner.release();
  }
  return result;
}

/** The stream's first bytes (for content sniffing), and a stream that still starts with them. */
async function withHead(source: Readable): Promise<{ head: Buffer; stream: Readable }> {
  const it = source[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  const first: Buffer[] = [];
  let n = 0;
  let done = false;
  while (n < SNIFF_BYTES) {
    const next = await it.next();
    if (next.done) {
      done = true;
      break;
    }
    first.push(next.value);
    n += next.value.length;
  }
  const head = Buffer.concat(first).subarray(0, SNIFF_BYTES);
  async function* all(): AsyncGenerator<Buffer> {
    yield* first;
    if (done) return;
    for (let next = await it.next(); !next.done; next = await it.next()) yield next.value;
  }
  const stream = Readable.from(all(), { objectMode: false });
  stream.on('close', () => {
    if (!source.destroyed) source.destroy();
  });
  return { head, stream };
}

function label(part: Pick<FilePart, 'filename' | 'field'>): string {
  return (part.filename || part.field).replace(/[\p{Cc}]/gu, '?').slice(0, 80);
}

/** Deletes this request's blobs; false (logged) when that failed. */
async function removeBlobs(jobId: string, deps: IngestDeps, log: Logger): Promise<boolean> {
  try {
    await deps.scanBlobs.deleteJob(jobId);
    return true;
  } catch (e) {
    log.error('scan: blob cleanup failed; the ingest sweeper will remove them', { jobId, ...describeError(e) });
    return false;
  }
}

async function checkSharedSecret(given: string, deps: IngestDeps): Promise<void> {
  const expected = await deps.secrets.get(EXTENSION_SHARED_SECRET);
  if (!secretsEqual(given, expected)) {
    throw new UnauthorizedError(`The shared secret in '${deps.sharedSecretField}' is wrong.`);
  }
}

/** Streams one file into its blob, which is committed only once `leased` resolved. */
async function storeFile(jobId: string, part: FilePart, deps: IngestDeps, leased: Promise<void>): Promise<StoredFile> {
  const meter = new FileMeter(deps.limits.maxFileBytes, `'${label(part)}'`, leased);
  const contentType = sniffContentType(part.head) ?? part.declaredType;
  const blobName = ScanBlobStore.blobName(jobId, part.index);
  const results = await Promise.allSettled([
    pipeline(part.stream, meter),
    deps.scanBlobs.upload(blobName, meter, { contentType, originalName: part.filename }).catch((err: unknown) => {
      meter.destroy(err as Error); // stops the reader's writes into this part
      throw err;
    }),
  ]);
  const failures = results.flatMap((r) => (r.status === 'rejected' ? [r.reason as unknown] : []));
  // The meter's own error (file too large) or the request's failure says more than the upload's.
  if (failures.length) throw failures.find((e) => e instanceof AppError) ?? failures[0];
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

/** The record of a job, written `stored` as its last write. */
type NewJob = Parameters<ScanJobRepository['create']>[0] & { status: 'stored' };

/**
 * Claims the scanJobID, sends the queue message, then writes the job's record, `stored`: the
 * record is the last write of a job, so a job is stored exactly when it has its blobs, its claim,
 * its message and its record. On failure undoes what it wrote (the caller removes the blobs).
 */
async function commit(job: NewJob, deps: IngestDeps, owner: OwnerLease, undone: Undo, log: Logger): Promise<IngestResult> {
  const { scanJobs, deliveryQueue } = deps;
  await owner.noteScanJobId(job.scanJobId);
  let claimEtag: string | undefined;
  if (job.scanJobId) {
    const claim = await claimScanJobId(job.scanJobId, job.jobId, deps, owner);
    if (claim.duplicate) return claim.duplicate;
    claimEtag = claim.etag;
  }

  let receipt: EnqueueReceipt | undefined;
  let writing = false;
  try {
    owner.assertHeld();
    // The message before the record: a deliverer that takes it at once finds no record yet and
    // waits while this request's lease lives (shared/delivery, storedJob).
    receipt = await deliveryQueue.enqueue({ jobId: job.jobId });
    owner.assertHeld();
    writing = true;
    // Refused (no ETag) when the sweeper gave this job up as abandoned while we were stalled: its
    // tombstone holds the job id.
    if (!(await scanJobs.create(job))) throw interrupted();
  } catch (err) {
    // A record write that failed may have landed all the same (its answer lost): then the job is
    // stored, and undoing its message would leave a stored job nobody delivers.
    const landed = writing && !(err instanceof AppError) ? await recordLanded(job.jobId, deps) : false;
    if (landed === undefined) {
      // It cannot be read either: everything stays for the sweeper, which decides from the record.
      undone.unknown = true;
      log.error('scan: writing the record failed, and whether it landed cannot be read; the ingest sweeper decides', {
        jobId: job.jobId,
        ...describeError(err),
      });
      throw err;
    }
    if (!landed) {
      await rollBack(job, { receipt, claimEtag }, err, deps, undone, log);
      throw err;
    }
    log.warn('scan: the record was written although its write reported a failure; the job is stored', { jobId: job.jobId });
  }
  // Stored. The claim is completed and the job's index row written together: a claim left
  // pending by a crash here is completed by the next retry (it finds the owner gone and the job
  // stored). The lease goes once the index row is there; a crash or failure before that leaves
  // the lease, and the sweeper writes the row (insert-if-absent: a deliverer that recorded a
  // later state first keeps it).
  await Promise.all([
    job.scanJobId &&
      scanJobs.completeClaim(job.scanJobId, claimEtag!).catch((e: unknown) => {
        log.warn('scan: completing the scanJobID claim failed; a retry completes it', { jobId: job.jobId, ...describeError(e) });
      }),
    deps.jobIndex
      .insert(indexEntryOf(job))
      .then(
        () => true,
        (e: unknown) => {
          log.warn('scan: writing the job index failed; the ingest sweeper writes it', { jobId: job.jobId, ...describeError(e) });
          return false;
        },
      )
      .then(async (indexed) => {
        await owner.stopRenewing();
        if (indexed) await owner.release();
      }),
  ]);
  return { jobId: job.jobId, files: job.files.map(publicFile), duplicate: false };
}

/** Undoes a commit that failed: its message and its claim go (the caller removes the blobs). */
async function rollBack(
  job: NewJob,
  wrote: { receipt?: EnqueueReceipt; claimEtag?: string },
  err: unknown,
  deps: IngestDeps,
  undone: Undo,
  log: Logger,
): Promise<void> {
  const jobId = job.jobId;
  if (!(err instanceof AppError)) log.error('scan: storing the job failed; rolling back', { jobId, ...describeError(err) });
  const undo: Array<Promise<unknown>> = [];
  if (wrote.receipt) undo.push(deps.deliveryQueue.remove(wrote.receipt));
  if (job.scanJobId) undo.push(deps.scanJobs.releaseClaim(job.scanJobId, wrote.claimEtag!));
  for (const r of await Promise.allSettled(undo)) {
    if (r.status === 'rejected') {
      undone.incomplete = true;
      log.error('scan: rollback step failed; the ingest sweeper finishes it', { jobId, ...describeError(r.reason) });
    }
  }
}

/** Whether the job's record is there, stored (undefined: it cannot be read either). */
async function recordLanded(jobId: string, deps: IngestDeps): Promise<boolean | undefined> {
  try {
    return (await deps.scanJobs.get(jobId))?.status === 'stored';
  } catch {
    return undefined;
  }
}

function publicFile(f: StoredFile): IngestResult['files'][number] {
  return { name: f.name, contentType: f.contentType, size: f.size, sha256: f.sha256 };
}

/**
 * Claims a scanJobID. A job already stored under it is a duplicate (its result is returned).
 * A pending claim whose owner is alive (its lease is renewed) belongs to a concurrent request,
 * which we wait for; one whose owner is gone is taken over, unless its job got stored after all.
 */
async function claimScanJobId(
  scanJobId: string,
  jobId: string,
  deps: IngestDeps,
  owner: OwnerLease,
): Promise<{ etag: string; duplicate?: undefined } | { duplicate: IngestResult }> {
  const deadline = Date.now() + (deps.duplicateWaitMs ?? 30_000);
  for (;;) {
    owner.assertHeld();
    const res = await deps.scanJobs.claim(scanJobId, jobId);
    if (res.claimed) return { etag: res.etag };
    const held = res.existing;
    if (held.status === 'stored') return { duplicate: await duplicateOf(held.jobId, deps) };
    if (!(await ingestAlive(deps.ingestLeases, held.jobId, leaseMs(deps)))) {
      const first = await deps.scanJobs.get(held.jobId);
      if (first?.status === 'stored') {
        await deps.scanJobs.completeClaim(scanJobId, held.etag);
        return { duplicate: await duplicateOf(held.jobId, deps) };
      }
      const etag = await deps.scanJobs.takeOver(scanJobId, held, jobId);
      if (etag) return { etag };
      continue;
    }
    if (Date.now() > deadline) {
      throw new AppError('duplicate_in_progress', 'A scan job with the same scanJobID is still being stored; retry in a moment.', 5);
    }
    await sleep(200);
  }
}

async function duplicateOf(firstJobId: string, deps: IngestDeps): Promise<IngestResult> {
  const first = await deps.scanJobs.get(firstJobId);
  return { jobId: firstJobId, files: (first?.files ?? []).map(publicFile), duplicate: true };
}

function leaseMs(deps: IngestDeps): number {
  return deps.leaseMs ?? DEFAULT_LEASE_MS;
}
