/** A job search as asked (GET /api/jobs), checked once: times, statuses, fields, page. */
import { BadRequestError, ERRORS, type ErrorEntry } from '../errors';
import { INDEXED_VALUE_CHARS, searchKey, type IndexPosition } from '../storage';

/** A job record's status; `pending` jobs are the requests being stored right now. */
export const RECORD_STATUSES = ['stored', 'pending', 'abandoned'] as const;
/** A stored job's delivery state: the catalog's `job` codes. */
export const DELIVERY_STATES: readonly string[] = Object.entries(ERRORS)
  .filter(([, e]) => (e as ErrorEntry).kinds.includes('job'))
  .map(([code]) => code);

export const DEFAULT_LIMIT = 50;
export const MAX_LIMIT = 200;
const MAX_SCAN_JOB_ID_CHARS = 1024;

/** A field to match: the whole value or, with a trailing `*`, its start (case-insensitive). */
export interface FieldMatch {
  key: string;
  prefix: boolean;
}

export interface JobQuery {
  from?: Date;
  to?: Date;
  /** Record statuses and delivery states, any of which matches; empty: every job. */
  statuses: string[];
  workflowName?: FieldMatch;
  username?: FieldMatch;
  deviceName?: FieldMatch;
  scanJobId?: string;
  /** Where the previous page stopped. */
  after?: IndexPosition;
  limit: number;
}

export type QueryParams = (name: string) => string | null | undefined;

export function parseJobQuery(param: QueryParams): JobQuery {
  const from = parseTime(param('from'), 'from');
  const to = parseTime(param('to'), 'to');
  if (from && to && from > to) throw new BadRequestError('invalid_time_range', '`from` is after `to`.');
  const scanJobId = param('scanJobID')?.trim() || undefined;
  if (scanJobId && scanJobId.length > MAX_SCAN_JOB_ID_CHARS) {
    throw new BadRequestError('invalid_filter', `scanJobID is longer than ${MAX_SCAN_JOB_ID_CHARS} characters.`);
  }
  return {
    from,
    to,
    statuses: parseStatuses(param('status')),
    workflowName: parseField(param('workflowName'), 'workflowName'),
    username: parseField(param('username'), 'username'),
    deviceName: parseField(param('deviceName'), 'deviceName'),
    scanJobId,
    after: decodeContinuation(param('continuation')),
    limit: parseLimit(param('limit')),
  };
}

const TIME = /^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?(Z|[+-]\d{2}:\d{2}))?$/;

/** ISO 8601: a date (its whole UTC day: `from` its start, `to` its end) or a time with Z or an offset. */
function parseTime(value: string | null | undefined, name: 'from' | 'to'): Date | undefined {
  const v = value?.trim();
  if (!v) return undefined;
  const m = TIME.exec(v);
  const bad = () =>
    new BadRequestError('invalid_time_range', `\`${name}\` is not an ISO 8601 date or time (2026-12-01, 2026-12-01T08:00:00Z).`);
  if (!m) throw bad();
  const [, y, mo, d, h, mi, sec] = m.map(Number);
  const day = new Date(Date.UTC(y!, mo! - 1, d));
  if (day.getUTCDate() !== d || day.getUTCMonth() !== mo! - 1) throw bad();
  let at: Date;
  if (m[4] === undefined) {
    at = name === 'to' ? new Date(day.getTime() + 86_400_000 - 1) : day;
  } else {
    if (h! > 23 || mi! > 59 || (m[6] !== undefined && sec! > 59)) throw bad();
    at = new Date(v);
  }
  // The index keys hold times from the epoch to year 9999 (and ScanRelay stored nothing before 2000).
  if (Number.isNaN(at.getTime()) || at.getUTCFullYear() < 2000 || at.getUTCFullYear() > 9999) throw bad();
  return at;
}

function parseStatuses(value: string | null | undefined): string[] {
  const asked = (value ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const known = [...RECORD_STATUSES, ...DELIVERY_STATES];
  const unknown = asked.filter((s) => !known.includes(s));
  if (unknown.length) {
    throw new BadRequestError(
      'invalid_status',
      `Unknown status '${unknown[0]!.slice(0, 40)}'; use ${known.join(', ')} (comma-separated for any of them).`,
    );
  }
  if (asked.includes('pending') && asked.length > 1) {
    throw new BadRequestError('invalid_status', 'Ask for status=pending on its own: those are the requests being stored right now.');
  }
  return [...new Set(asked)];
}

function parseField(value: string | null | undefined, name: string): FieldMatch | undefined {
  const v = value?.trim();
  if (!v) return undefined;
  const prefix = v.endsWith('*');
  const text = prefix ? v.slice(0, -1) : v;
  if (!text.trim()) throw new BadRequestError('invalid_filter', `${name} is only '*'; give the start of the value before it.`);
  if (text.length > INDEXED_VALUE_CHARS) {
    throw new BadRequestError('invalid_filter', `${name} is longer than ${INDEXED_VALUE_CHARS} characters.`);
  }
  return { key: searchKey(text), prefix };
}

function parseLimit(value: string | null | undefined): number {
  const v = value?.trim();
  if (!v) return DEFAULT_LIMIT;
  const n = /^\d{1,4}$/.test(v) ? Number(v) : NaN;
  if (!(n >= 1 && n <= MAX_LIMIT)) throw new BadRequestError('invalid_limit', `limit must be a whole number from 1 to ${MAX_LIMIT}.`);
  return n;
}

/**
 * The service's continuation values are opaque (Azure encodes them, `1!12!…`; Azurite base64s
 * the keys): only their characters are checked, so that nothing else reaches a request header.
 */
const SERVICE_TOKEN = /^[A-Za-z0-9+/=!*_.-]{1,256}$/;

/** A page's `continuation`: base64url of `{"p": …, "r": …}`, the service's next partition and row, where the listing goes on. */
export function encodeContinuation(p: IndexPosition): string {
  return Buffer.from(JSON.stringify({ p: p.partitionKey, ...(p.rowKey ? { r: p.rowKey } : {}) })).toString('base64url');
}

export function badContinuation(): BadRequestError {
  return new BadRequestError('invalid_continuation', 'The continuation token is not one a previous page answered.');
}

function decodeContinuation(value: string | null | undefined): IndexPosition | undefined {
  const v = value?.trim();
  if (!v) return undefined;
  const bad = badContinuation;
  if (v.length > 800 || !/^[A-Za-z0-9_-]+$/.test(v)) throw bad();
  let t: unknown;
  try {
    t = JSON.parse(Buffer.from(v, 'base64url').toString('utf8'));
  } catch {
    throw bad();
  }
  const { p, r } = (t ?? {}) as { p?: unknown; r?: unknown };
  if (typeof p !== 'string' || !SERVICE_TOKEN.test(p) || (r !== undefined && (typeof r !== 'string' || !SERVICE_TOKEN.test(r))))
    throw bad();
  return { partitionKey: p, rowKey: r };
}
