/**
 * What the SCIM endpoint records of its exchanges for the console's Directory page
 * (shared/storage/directoryActivity.ts): the last request (time, method, resource kind, path, status),
 * and each error as ScanRelay answered it. Never the Authorization header, never a body; of the
 * query only the SCIM parameters (RFC 7644 §3.4.2: filter, attributes, paging), whose values hold
 * no secret; any other parameter's value is replaced.
 *
 * Cost: the last request is written at most once every `requestEveryMs` (5 s) per process, so a
 * provisioning cycle of thousands of requests writes a few rows; errors are always recorded,
 * those of one process that arrive together in one write (batchedWriter), which also notes the
 * newest of them as the last request. Recording never fails a SCIM answer: a failure is a
 * warning in the log.
 */
import { batchedWriter } from '../concurrency';
import { describeError, type Logger } from '../log';
import type { DirectoryActivityRepository, ScimErrorRecord } from '../storage';

/** One SCIM request and ScanRelay's answer, as far as the Directory page may see it. */
export interface ScimExchange {
  method: string;
  /** The path below /scim/v2. */
  path: string;
  query: URLSearchParams;
  status: number;
  scimType?: string;
  /** The error's `detail` as answered. */
  detail?: string;
}

export const REQUEST_EVERY_MS = 5_000;
const RESOURCES = ['Users', 'Groups', 'ServiceProviderConfig', 'Schemas', 'ResourceTypes'];
const SCIM_PARAMETERS = new Set(['filter', 'attributes', 'excludedattributes', 'startindex', 'count', 'sortby', 'sortorder']);

export class ScimActivity {
  private lastNoted = Number.NEGATIVE_INFINITY;
  private readonly addError: (error: ScimErrorRecord) => Promise<void>;

  constructor(
    private readonly store: Pick<DirectoryActivityRepository, 'noteScimRequest' | 'addScimErrors'>,
    private readonly options: { requestEveryMs?: number; now?: () => Date } = {},
  ) {
    this.addError = batchedWriter(async (errors) => {
      const newest = errors[errors.length - 1]!;
      await Promise.all([
        store.addScimErrors(errors),
        store.noteScimRequest({
          at: newest.lastAt,
          method: newest.method,
          resource: resourceOf(newest.path),
          path: newest.path,
          status: newest.status,
        }),
      ]);
    });
  }

  /** Records an answered request; resolves once recorded (or once recording failed, logged as a warning). */
  async record(exchange: ScimExchange, log: Logger): Promise<void> {
    const at = this.options.now?.() ?? new Date();
    const method = clip(exchange.method.toUpperCase(), 10);
    let work: Promise<void> | undefined;
    if (exchange.status >= 400) {
      const path = safePath(exchange.path, exchange.query);
      work = this.addError({
        at,
        lastAt: at,
        count: 1,
        method,
        path,
        status: exchange.status,
        ...(exchange.scimType ? { scimType: clip(exchange.scimType, 40) } : {}),
        detail: clip(exchange.detail ?? '', 500),
      });
    } else if (at.getTime() - this.lastNoted >= (this.options.requestEveryMs ?? REQUEST_EVERY_MS)) {
      this.lastNoted = at.getTime();
      work = this.store.noteScimRequest({
        at,
        method,
        resource: resourceOf(exchange.path),
        path: safePath(exchange.path, exchange.query),
        status: exchange.status,
      });
    }
    try {
      await work;
    } catch (err) {
      log.warn('SCIM: the request was answered, but recording it for the Directory page failed', describeError(err));
    }
  }
}

/** The resource kind a path names: `Users`, `Groups`, a discovery endpoint, or `other`. */
export function resourceOf(path: string): string {
  const first = path.split(/[/?]/).find(Boolean)?.toLowerCase();
  return RESOURCES.find((r) => r.toLowerCase() === first) ?? 'other';
}

/** The path (printable, cut short) with the SCIM query parameters; other parameters' values replaced. */
export function safePath(path: string, query: URLSearchParams): string {
  const parts: string[] = [];
  for (const [name, value] of query) {
    const n = clip(name, 40);
    parts.push(SCIM_PARAMETERS.has(name.toLowerCase()) ? `${n}=${clip(value, 200)}` : value ? `${n}=[redacted]` : n);
  }
  return clip(path, 200) + (parts.length ? clip(`?${parts.join('&')}`, 300) : '');
}

/** Printable and at most `max` characters (an ellipsis marks a cut). */
function clip(text: string, max: number): string {
  const printable = text.replace(/[\u0000-\u001f\u007f-\u009f]/g, '?');
  return printable.length > max ? `${printable.slice(0, max - 1)}…` : printable;
}
