import type {
  DeliveryAttemptRepository,
  DeliveryRepository,
  IngestLeaseRepository,
  JobIndexRepository,
  ScanBlobStore,
  ScanJobRepository,
} from '../storage';

/** What the jobs operations read: the job records, their index, deliveries, timelines and files. */
export interface JobsDeps {
  scanJobs: Pick<ScanJobRepository, 'get' | 'getClaim'>;
  jobIndex: Pick<JobIndexRepository, 'page' | 'get'>;
  ingestLeases: Pick<IngestLeaseRepository, 'list'>;
  deliveries: Pick<DeliveryRepository, 'list'>;
  attempts: Pick<DeliveryAttemptRepository, 'list'>;
  scanBlobs: Pick<ScanBlobStore, 'open'>;
  /** The ingest lease's length (INGEST_LEASE_SECONDS): whether a pending job's request is alive. */
  leaseMs: number;
  /** The clock (tests). */
  now?: () => Date;
}
