/**
 * Trying the destinations without a scan: test routing (which destinations a job with these
 * fields goes to, and every template of each rendered, sending nothing) and a test delivery (a
 * sample PDF sent to one destination, with the outcome as the deliverer would record it).
 */
import { createHash, randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import { PDFDocument, StandardFonts } from 'pdf-lib';
import { audit, type Actor } from '../audit';
import {
  deliveryCode,
  explainRule,
  isDestinationsProblem,
  TransientDeliveryError,
  withDirectoryFacts,
  type DeliveryContext,
  type DeliveryJob,
  type DestinationSet,
  type FindUser,
  type TemplatePreview,
} from '../delivery';
import { AppError, ValidationError, type FieldProblem } from '../errors';
import { describeError, type Logger } from '../log';
import type { AuditLogRepository } from '../storage';
import type { DestinationsSource } from './current';
import { notFound } from './document';

export interface TryOutDeps {
  source: DestinationsSource;
  /** The directory's user, to fill the fields the job lacks, as the deliverer does. */
  findUser?: FindUser;
  log: Logger;
}

export interface SendTestDeps extends TryOutDeps {
  context: Omit<DeliveryContext, 'log'>;
  auditLog: Pick<AuditLogRepository, 'add'>;
  now?: () => Date;
}

export interface RoutingTestResult {
  /** The version tried (stored), or the file (pinned). */
  version?: number;
  file?: string;
  /** The fields as routing sees them: the given ones, and what the directory filled in. */
  fields: Record<string, string>;
  filledFromDirectory: string[];
  /** The destinations the job goes to. */
  selected: string[];
  destinations: Array<{
    id: string;
    type: string;
    enabled: boolean;
    selected: boolean;
    /** Each field of its rule against the job. */
    rule: Array<{ field: string; matched: boolean; value?: string }>;
    /** Of a selected destination: every template, rendered or with why it cannot be. */
    templates?: TemplatePreview[];
  }>;
}

const MAX_FIELDS = 200;
const MAX_VALUE = 16 * 1024;

/** `fields` (scan variables, strings) and `files` (names, for file name templates) of a request body. */
function readInput(
  body: unknown,
  requireFields: boolean,
): { fields: Record<string, string>; files: Array<{ name: string; contentType: string }> } {
  const problems: FieldProblem[] = [];
  const b = (body ?? {}) as Record<string, unknown>;
  const fields: Record<string, string> = {};
  if (!body || typeof body !== 'object' || Array.isArray(body)) problems.push({ path: '', message: 'must be a JSON object.' });
  else if (b.fields === undefined && requireFields)
    problems.push({ path: 'fields', message: 'must be an object of scan variables (name → text).' });
  else if (b.fields !== undefined && (!b.fields || typeof b.fields !== 'object' || Array.isArray(b.fields)))
    problems.push({ path: 'fields', message: 'must be an object of scan variables (name → text).' });
  else {
    const entries = Object.entries((b.fields ?? {}) as Record<string, unknown>);
    if (entries.length > MAX_FIELDS) problems.push({ path: 'fields', message: `must have at most ${MAX_FIELDS} variables.` });
    for (const [name, value] of entries.slice(0, MAX_FIELDS)) {
      if (typeof value !== 'string' || value.length > MAX_VALUE)
        problems.push({ path: `fields.${name}`, message: `must be a text of at most ${MAX_VALUE} characters.` });
      else fields[name] = value;
    }
  }
  const files: Array<{ name: string; contentType: string }> = [];
  const list = b.files ?? [{ name: 'scan.pdf' }];
  if (!Array.isArray(list) || list.length < 1 || list.length > 20)
    problems.push({ path: 'files', message: 'must be a list of 1 to 20 files.' });
  else
    list.forEach((f: unknown, i) => {
      const { name, contentType } = (f ?? {}) as Record<string, unknown>;
      if (typeof name !== 'string' || !name.trim() || name.length > 255)
        problems.push({ path: `files[${i}].name`, message: 'must be a file name.' });
      else if (contentType !== undefined && typeof contentType !== 'string')
        problems.push({ path: `files[${i}].contentType`, message: 'must be a media type, e.g. application/pdf.' });
      else
        files.push({
          name,
          contentType: contentType ?? (/\.pdf$/i.test(name) ? 'application/pdf' : 'application/octet-stream'),
        });
    });
  if (problems.length)
    throw new ValidationError(`The request is not valid: ${problems[0]!.path || 'the body'} ${problems[0]!.message}`, problems);
  return { fields, files };
}

async function inForce(source: DestinationsSource, log: Logger): Promise<DestinationSet> {
  try {
    return await source.current(log);
  } catch (err) {
    if (isDestinationsProblem(err)) throw new AppError('destinations_invalid', `The destinations cannot be used: ${err.message}`);
    throw err;
  }
}

const noContent = () => Promise.reject(new Error('test routing opens no file'));

/**
 * Which destinations select a job with these fields (`{ "fields": {...}, "files": [{ "name": "a.pdf" }] }`),
 * and every template of each, rendered as its delivery would render it. Sends nothing.
 * @param _actor who asks (a read: not audited)
 */
export async function testRouting(deps: TryOutDeps, _actor: Actor, body: unknown): Promise<RoutingTestResult> {
  const input = readInput(body, true);
  const set = await inForce(deps.source, deps.log);
  const fields = { ...(await withDirectoryFacts(input.fields, deps.findUser, deps.log)) };
  const job: DeliveryJob = {
    jobId: 'routing-test',
    receivedAt: new Date(),
    fields,
    files: input.files.map((f) => ({ ...f, size: 0, sha256: '', open: noContent })),
  };
  const destinations = set.destinations.map((d) => {
    const rule = explainRule(fields, d);
    const selected = d.enabled && rule.every((r) => r.matched);
    return {
      id: d.id,
      type: d.type,
      enabled: d.enabled,
      selected,
      rule,
      ...(selected ? { templates: d.connector.preview?.(job, d.options) ?? [] } : {}),
    };
  });
  return {
    ...(set.version === undefined ? {} : { version: set.version }),
    ...(set.file === undefined ? {} : { file: set.file }),
    fields,
    filledFromDirectory: Object.keys(fields).filter((k) => !Object.hasOwn(input.fields, k)),
    selected: destinations.filter((d) => d.selected).map((d) => d.id),
    destinations,
  };
}

export interface SendTestResult {
  destination: string;
  version?: number;
  /** The test job's id (what httpForward sends as Idempotency-Key); no job is stored. */
  jobId: string;
  fields: Record<string, string>;
  outcome: 'delivered' | 'failed';
  remoteId?: string;
  error?: { code: string; message: string; retryable: boolean };
}

/** A one-page PDF saying what it is. */
async function samplePdf(destination: string, at: Date): Promise<Buffer> {
  const pdf = await PDFDocument.create();
  pdf.setTitle('ScanRelay test');
  const page = pdf.addPage([595, 842]);
  const font = await pdf.embedFont(StandardFonts.Helvetica);
  const lines = [
    'ScanRelay test delivery',
    `Destination: ${destination}`,
    `Sent: ${at.toISOString()}`,
    'No scan was made: an administrator sent this test.',
  ];
  lines.forEach((line, i) => page.drawText(line, { x: 56, y: 770 - i * 24, size: i === 0 ? 20 : 12, font }));
  return Buffer.from(await pdf.save());
}

/**
 * Delivers a sample PDF to one destination (enabled or not) with `fields` (optional) over a few
 * defaults, as the deliverer would, and tells the outcome: the remote id, or the delivery error's
 * code and reason. Recorded in the audit log. No job or delivery row is stored.
 */
export async function sendTest(deps: SendTestDeps, actor: Actor, id: string, body: unknown): Promise<SendTestResult> {
  const input = readInput(body ?? {}, false);
  const set = await inForce(deps.source, deps.log);
  const d = set.destinations.find((x) => x.id === id);
  if (!d) throw notFound(id, set.version);
  const at = deps.now?.() ?? new Date();
  const defaults = {
    workflowName: 'ScanRelay test',
    deviceName: 'ScanRelay',
    username: 'scanrelay-test',
    scanDate: at.toISOString().slice(0, 10),
  };
  const fields = { ...(await withDirectoryFacts({ ...defaults, ...input.fields }, deps.findUser, deps.log)) };
  const pdf = await samplePdf(id, at);
  const job: DeliveryJob = {
    jobId: randomUUID(),
    receivedAt: at,
    fields,
    files: [
      {
        name: 'ScanRelay test.pdf',
        contentType: 'application/pdf',
        size: pdf.length,
        sha256: createHash('sha256').update(pdf).digest('hex'),
        open: () => Promise.resolve(Readable.from([pdf])),
      },
    ],
  };
  let result: SendTestResult;
  try {
    const delivered = await d.connector.deliver(job, d.options, { ...deps.context, log: deps.log });
    result = { destination: id, version: set.version, jobId: job.jobId, fields, outcome: 'delivered', remoteId: delivered.remoteId };
  } catch (err) {
    const error = {
      code: deliveryCode(err),
      message: describeError(err).message ?? 'error',
      retryable: err instanceof TransientDeliveryError,
    };
    result = { destination: id, version: set.version, jobId: job.jobId, fields, outcome: 'failed', error };
  }
  await audit({ auditLog: deps.auditLog, now: () => at }, actor, 'destination.test', `destination:${id}`, {
    after: { outcome: result.outcome, remoteId: result.remoteId, error: result.error, version: set.version },
  });
  deps.log.info('destinations: test delivery', { destination: id, outcome: result.outcome, code: result.error?.code });
  return result;
}
