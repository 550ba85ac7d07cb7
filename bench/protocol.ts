/** What the bench's parent and its children (ScanRelay, baseline) share and say to each other over IPC. */
import { MiB } from './payload';

/** What ScanRelay's ScanBlobStore passes to uploadStream: the baseline uses the same. */
export { UPLOAD_BUFFER_BYTES, UPLOAD_CONCURRENCY } from '../shared/storage';
export const BASELINE_CONTAINER = 'bench-baseline';
export const RELAY_CONTAINER = 'bench-relay';
/** SCAN_MAX_REQUEST_BYTES and SCAN_MAX_FILE_BYTES for the bench: room for the 200 MiB file. */
export const BENCH_LIMIT_BYTES = 300 * MiB;

/** One load pattern: `requests` requests, `inFlight` at a time, each with `filesPerRequest` files. */
export interface Scenario {
  key: string;
  title: string;
  requests: number;
  filesPerRequest: number;
  fileBytes: number;
  inFlight: number;
}

/** ScanRelay itself, the direct-upload baseline, and the minimal reference relay. */
export type ChildRole = 'scanrelay' | 'baseline' | 'relay';

export type Command =
  /** Use this Azurite from now on (ScanRelay: new services, same server and port). */
  | { id: number; type: 'connect'; connectionString: string }
  /** Collect garbage, then start a new RSS window (its start is the current RSS). */
  | { id: number; type: 'mark' }
  /** The RSS window so far: its start and peak. */
  | { id: number; type: 'peak' }
  /** Baseline only: upload the scenario's bytes directly; answers the elapsed time. */
  | { id: number; type: 'run'; scenario: Scenario }
  | { id: number; type: 'stop' };

export interface ConnectReply {
  /** ScanRelay and the reference relay: the HTTP server's port. */
  port?: number;
  /** The container the child's blobs go to. */
  container: string;
}

export interface MarkReply {
  rss: number;
}

export interface PeakReply {
  start: number;
  /** Highest RSS sampled (every ~20 ms, and at this call). */
  peak: number;
  /** The kernel's high-water mark since `mark` (VmHWM after clear_refs), when Linux allows it. */
  kernelPeak?: number;
  samples: number;
  /** The child's CPU time (user + system) since `mark`, in ms. */
  cpuMs: number;
  /** Of which system (kernel) time, in ms. */
  cpuSysMs: number;
}

export interface RunReply {
  ms: number;
}

export type Reply = { id: number; ok: true; data: unknown } | { id: number; ok: false; error: string };
