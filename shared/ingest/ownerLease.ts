/**
 * The owner lease of a request storing files (table `ingestleases`): written while its first
 * file streams in, renewed every third of its length while the request lives, deleted once the
 * job is stored or its leftovers removed. Losing it aborts the request. A lease that ran out
 * tells a retry, the deliverer and the sweeper that its request is gone.
 */
import { keepRenewed, type Renewal } from '../concurrency';
import { AppError } from '../errors';
import { describeError, silentLogger, type Logger } from '../log';
import type { IngestLease, IngestLeaseRepository } from '../storage';

/** The owner lease's length unless configured (INGEST_LEASE_SECONDS); renewed every third of it. */
export const DEFAULT_LEASE_MS = 30_000;

/** 503: this request lost its owner lease (it stalled for longer than the lease): nothing is kept. */
export function interrupted(): AppError {
  return new AppError('ingest_interrupted', 'Storing the scan job was interrupted; send it again.', 5);
}

/**
 * True while the request storing a job still renews its lease (a third of the lease's length of
 * grace, for clocks). The deliverer asks this of a pending job; a retry, of a claim's owner.
 */
export async function ingestAlive(ingestLeases: Pick<IngestLeaseRepository, 'get'>, jobId: string, leaseMs: number): Promise<boolean> {
  const lease = await ingestLeases.get(jobId);
  return !!lease && Date.now() <= lease.leaseUntil.getTime() + leaseMs / 3;
}

export interface OwnerLeaseDeps {
  ingestLeases: Pick<IngestLeaseRepository, 'create' | 'renew' | 'delete'>;
  leaseMs?: number;
  log?: Logger;
}

/**
 * This request's lease in `ingestleases`: written before its first blob, renewed while it lives,
 * deleted once the job is stored (or its leftovers removed). Losing it aborts the request.
 */
export class OwnerLease {
  private started?: Promise<void>;
  private renewal?: Renewal<IngestLease>;
  private readonly abort = new AbortController();
  readonly signal = this.abort.signal;

  constructor(
    private readonly jobId: string,
    private readonly deps: OwnerLeaseDeps,
  ) {}

  /** Writes the lease (once; later calls wait for the first). */
  start(scanJobId: string | undefined): Promise<void> {
    this.started ??= (async () => {
      this.keep(await this.deps.ingestLeases.create(this.jobId, this.until(), scanJobId));
    })();
    return this.started;
  }

  /** Records the scanJobID on the lease (for the sweeper) when it was not known at the start. */
  async noteScanJobId(scanJobId: string | undefined): Promise<void> {
    if (!scanJobId || !this.renewal || this.renewal.current.scanJobId === scanJobId) return;
    await this.renewal.stop();
    const noted = await this.deps.ingestLeases.renew(this.renewal.current, this.until(), scanJobId);
    if (!noted) throw interrupted();
    this.keep(noted);
  }

  private until(): Date {
    return new Date(Date.now() + (this.deps.leaseMs ?? DEFAULT_LEASE_MS));
  }

  private keep(lease: IngestLease): void {
    const renewal = keepRenewed(lease, {
      everyMs: (this.deps.leaseMs ?? DEFAULT_LEASE_MS) / 3,
      renew: (current) => this.deps.ingestLeases.renew(current, this.until()),
      expiresAt: (current) => current.leaseUntil.getTime(),
      lost: () => interrupted(),
    });
    renewal.signal.addEventListener('abort', () => this.abort.abort(renewal.signal.reason), { once: true });
    this.renewal = renewal;
  }

  assertHeld(): void {
    this.signal.throwIfAborted();
  }

  async stopRenewing(): Promise<void> {
    await this.started?.catch(() => undefined);
    await this.renewal?.stop();
  }

  /** Deletes the lease (a failure is left to the sweeper, which finds the job's state itself). */
  async release(): Promise<void> {
    if (!this.renewal) return;
    await this.deps.ingestLeases.delete(this.renewal.current).catch((e: unknown) =>
      (this.deps.log ?? silentLogger).warn('scan: deleting the ingest lease failed; the sweeper removes it', {
        jobId: this.jobId,
        ...describeError(e),
      }),
    );
  }
}
