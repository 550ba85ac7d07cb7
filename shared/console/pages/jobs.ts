/**
 * Jobs: the list (filters in a GET form, paged by the search's continuation token), a job's page
 * (fields, files to download through the console, per destination where it stands and the
 * timeline of its attempts) with Redeliver one / Redeliver all, and the file download itself.
 * Every read is a shared/jobs operation and Redeliver is shared/delivery's, as in the JSON API.
 */
import { redeliver } from '../../delivery';
import { isAppError } from '../../errors';
import {
  DELIVERY_STATES,
  jobDetail,
  openJobFile,
  parseJobQuery,
  searchJobs,
  type JobDetail,
  type JobList,
  type JobSummary,
  type TimelineEntry,
} from '../../jobs';
import type { PageContext } from '../context';
import { flashCookie } from '../flash';
import { html, type SafeHtml } from '../html';
import { actionButton, badge, consolePath, dataTable, field, layout, selectInput, textInput, time, type Tone } from '../layout';
import { htmlResponse, redirect, type ConsoleResponse } from '../response';

/** The search's parameters, as the form names them (those of GET /api/jobs). */
const FILTERS = ['from', 'to', 'status', 'workflowName', 'username', 'deviceName', 'scanJobID'] as const;

const STATE_TONE: Record<string, Tone> = {
  delivered: 'ok',
  failed: 'bad',
  partially_failed: 'bad',
  undeliverable: 'warn',
  blocked: 'warn',
  retrying: 'warn',
  paced: 'neutral',
  abandoned: 'neutral',
  pending: 'neutral',
};

const words = (state: string) => state.replace(/_/g, ' ');

/** A job's state as a badge: its delivery state once stored, else its record's status. */
export function jobBadge(j: Pick<JobSummary, 'status' | 'deliveryState' | 'poisoned'>): SafeHtml {
  const state = j.status === 'stored' ? (j.deliveryState ?? 'queued') : j.status;
  return html`${badge(STATE_TONE[state] ?? 'neutral', words(state))} ${j.poisoned ? badge('bad', 'poisoned') : ''}`;
}

const STATUS_OPTIONS: ReadonlyArray<[string, string]> = [
  ['', 'Any'],
  ['failed,partially_failed', 'Failed (all or some)'],
  ...DELIVERY_STATES.map((s): [string, string] => [s, words(s)]),
  ['pending', 'pending (being stored)'],
  ['abandoned', 'abandoned'],
];

const bytes = (n: number) => (n < 1024 ? `${n} B` : n < 1048576 ? `${(n / 1024).toFixed(1)} KiB` : `${(n / 1048576).toFixed(1)} MiB`);
export const duration = (ms: number | undefined) =>
  ms === undefined ? '—' : ms < 1000 ? `${ms} ms` : ms < 120_000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.round(ms / 60_000)} min`;

export async function jobsPage(ctx: PageContext): Promise<ConsoleResponse> {
  const q = ctx.request.query;
  const values = Object.fromEntries(FILTERS.map((f) => [f, q.get(f)?.trim() ?? '']));
  let list: JobList = { jobs: [] };
  let error: string | undefined;
  try {
    list = await searchJobs(
      ctx.deps.jobs,
      parseJobQuery((name) => q.get(name)),
    );
  } catch (err) {
    if (!isAppError(err) || err.status !== 400) throw err;
    error = err.message;
  }
  const filtered = FILTERS.some((f) => values[f]);
  const rows = list.jobs.map(
    (j) =>
      html`<tr>
        <td><a href="${consolePath('jobs', j.jobId)}">${time(j.receivedAt)}</a></td>
        <td>${jobBadge(j)}</td>
        <td>${j.workflowName ?? '—'}</td>
        <td>${j.username ?? '—'}</td>
        <td>${j.deviceName ?? '—'}</td>
        <td>${j.fileCount} (${bytes(j.totalBytes)})</td>
        <td>
          ${j.status === 'stored' && j.deliveryState === 'delivered' ? duration(j.latencyMs) : (j.failedDestinations?.join(', ') ?? '')}
        </td>
      </tr>`,
  );
  const params = new URLSearchParams(Object.entries(values).filter(([, v]) => v));
  const next =
    list.continuation && `${consolePath('jobs')}?${new URLSearchParams([...params, ['continuation', list.continuation]]).toString()}`;
  const content = html`<p class="lead">
      Stored jobs, newest first. Open one to see its files and each delivery attempt, and to redeliver it.
    </p>
    <form class="filters" method="get" action="${consolePath('jobs')}" role="search" aria-label="Search jobs">
      ${field('from', 'From', textInput(values.from), { hint: '2026-12-01 or 2026-12-01T08:00:00Z (UTC)' })}
      ${field('to', 'To', textInput(values.to), { hint: 'A date alone: its whole day' })}
      ${field('status', 'Status', selectInput(STATUS_OPTIONS, values.status))}
      ${field('workflowName', 'Workflow', textInput(values.workflowName), { hint: 'End with * for a start' })}
      ${field('username', 'User', textInput(values.username))} ${field('deviceName', 'Device', textInput(values.deviceName))}
      ${field('scanJobID', 'scanJobID', textInput(values.scanJobID))}
      <div><button type="submit">Search</button></div>
      ${filtered ? html`<div><a href="${consolePath('jobs')}">Clear</a></div>` : ''}
    </form>
    ${error ? html`<div class="notice bad" role="alert"><p>${error}</p></div>` : ''}
    ${dataTable(
      'Jobs',
      ['Received', 'State', 'Workflow', 'User', 'Device', 'Files', 'Latency / failed at'],
      rows,
      error ? 'Correct the search.' : filtered ? 'No job matches.' : 'No jobs yet.',
    )}
    ${
      next || q.get('continuation')
        ? html`<nav class="pager" aria-label="Pages">
            ${q.get('continuation') ? html`<a href="${`${consolePath('jobs')}${params.size ? `?${params.toString()}` : ''}`}">First page</a>` : ''}
            ${next ? html`<a href="${next}" rel="next">Next page →</a>` : ''}
          </nav>`
        : ''
    }`;
  return htmlResponse(error ? 400 : 200, layout(ctx.chrome('Jobs', 'jobs'), content));
}

const OUTCOME_TONE: Record<TimelineEntry['outcome'], Tone> = { delivered: 'ok', retrying: 'warn', failed: 'bad' };
const KIND: Record<TimelineEntry['kind'], string> = {
  attempt: 'Attempt',
  interrupted: 'Interrupted (the worker stopped)',
  redelivery: 'Redelivery asked for',
};

/** A remote id, its https links as links (opened without handing this page over). */
function remote(id: string | undefined, links: string[] | undefined): SafeHtml | string {
  if (!id) return '—';
  if (!links?.length) return html`<span class="mono">${id}</span>`;
  return html`${links.map((l) => html`<a href="${l}" rel="noopener noreferrer">${l}</a> `)}`;
}

function destinationSection(ctx: PageContext, job: JobDetail, d: NonNullable<JobDetail['delivery']>['destinations'][number]): SafeHtml {
  const status = d.status ?? 'not tried';
  const rows = d.timeline.map(
    (t) =>
      html`<tr>
        <td>${time(t.at)}</td>
        <td>${KIND[t.kind]} ${t.attempt ? html`<span class="muted">#${t.attempt}</span>` : ''}</td>
        <td>${badge(OUTCOME_TONE[t.outcome], t.outcome)}</td>
        <td class="mono">${t.code ?? ''}</td>
        <td>${t.message ?? ''}</td>
        <td>${duration(t.durationMs)}</td>
        <td>${remote(t.remoteId, t.links)}</td>
      </tr>`,
  );
  return html`<section aria-labelledby="${`dest-${d.destination}`}">
    <h3 id="${`dest-${d.destination}`}">
      Destination <span class="mono">${d.destination}</span>
      ${badge(d.status === 'delivered' ? 'ok' : d.status === 'failed' ? 'bad' : 'neutral', words(status))}
    </h3>
    <dl class="facts">
      <dt>Attempts</dt>
      <dd>${d.attempts}</dd>
      <dt>Remote id</dt>
      <dd>${remote(d.remoteId, d.links)}</dd>
      ${
        d.code || d.lastError
          ? html`<dt>Last error</dt>
              <dd><span class="mono">${d.code ?? ''}</span> ${d.lastError ?? ''}</dd>`
          : ''
      }
      <dt>Updated</dt>
      <dd>${time(d.updatedAt)}</dd>
    </dl>
    ${
      ctx.canWrite && d.status !== 'delivered'
        ? html`<div class="actions">
            ${actionButton(consolePath('jobs', job.jobId, 'redeliver'), `Redeliver to ${d.destination}`, ctx.csrf, {
              style: 'secondary',
              fields: { destination: d.destination },
              confirm: `Deliver this job to '${d.destination}' again?`,
            })}
          </div>`
        : ''
    }
    ${dataTable(
      `Timeline of ${d.destination}`,
      ['When', 'What', 'Outcome', 'Code', 'Message', 'Took', 'Remote id'],
      rows,
      'No attempt yet.',
    )}
  </section>`;
}

export async function jobPage(ctx: PageContext): Promise<ConsoleResponse> {
  const job = await jobDetail(ctx.deps.jobs, ctx.params[0]!);
  const delivery = job.delivery;
  const fields = Object.entries(job.fields).sort(([a], [b]) => a.localeCompare(b));
  const files = job.files.map(
    (f) =>
      html`<tr>
        <td>${f.download ? html`<a href="${consolePath('jobs', job.jobId, 'files', String(f.index))}" download>${f.name}</a>` : f.name}</td>
        <td class="mono">
          ${f.contentType}${f.declaredContentType && f.declaredContentType !== f.contentType ? html` <span class="muted">(sent as ${f.declaredContentType})</span>` : ''}
        </td>
        <td>${bytes(f.size)}</td>
        <td class="mono">${f.sha256}</td>
      </tr>`,
  );
  const content = html`<p><a href="${consolePath('jobs')}">← Jobs</a></p>
    ${
      delivery?.reason && delivery.state !== 'delivered'
        ? html`<div class="notice ${STATE_TONE[delivery.state] === 'bad' ? 'bad' : 'warn'}" role="status">
            <p><strong>Why:</strong> ${delivery.reason}</p>
          </div>`
        : ''
    }
    <dl class="facts">
      <dt>State</dt>
      <dd>${jobBadge({ status: job.status, deliveryState: delivery?.state, poisoned: delivery?.poisoned })}</dd>
      <dt>Job id</dt>
      <dd class="mono">${job.jobId}</dd>
      <dt>scanJobID</dt>
      <dd class="mono">${job.scanJobId ?? '—'}</dd>
      <dt>Received</dt>
      <dd>${time(job.receivedAt)}</dd>
      <dt>Delivered</dt>
      <dd>${delivery?.deliveredAt ? html`${time(delivery.deliveredAt)} (${duration(delivery.latencyMs)} after it was received)` : '—'}</dd>
      <dt>Sender</dt>
      <dd class="mono">${job.senderAddress ?? '—'}</dd>
    </dl>
    ${
      ctx.canWrite && delivery && delivery.state !== 'delivered'
        ? html`<div class="actions">
            ${actionButton(consolePath('jobs', job.jobId, 'redeliver'), 'Redeliver all', ctx.csrf, {
              confirm: 'Deliver this job again to every destination that has not received it?',
            })}
          </div>`
        : ''
    }
    <h2>Fields</h2>
    ${
      fields.length
        ? html`<dl class="facts">
            ${fields.map(
              ([k, v]) =>
                html`<dt class="mono">${k}</dt>
                  <dd>${v}</dd>`,
            )}
          </dl>`
        : html`<p class="muted">No fields.</p>`
    }
    <h2>Files</h2>
    ${dataTable('Files', ['Name', 'Type', 'Size', 'SHA-256'], files, 'No files are kept for this job.')}
    <h2>Delivery</h2>
    ${
      delivery
        ? delivery.destinations.length
          ? delivery.destinations.map((d) => destinationSection(ctx, job, d))
          : html`<p class="muted">No destination has been tried yet.</p>`
        : html`<p class="muted">This job was never stored (${job.status}): there is nothing to deliver.</p>`
    }`;
  return htmlResponse(200, layout(ctx.chrome(`Job ${job.fields['workflowName'] ?? job.jobId.slice(0, 8)}`, 'jobs'), content));
}

/** A job's file, streamed through the console (the headers of GET /api/jobs/{jobId}/files/{index}). */
export async function jobFileDownload(ctx: PageContext): Promise<ConsoleResponse> {
  const file = await openJobFile(ctx.deps.jobs, ctx.params[0]!, ctx.params[1]!);
  return { status: 200, headers: file.headers, cookies: [], body: file.stream };
}

export async function redeliverAction(ctx: PageContext): Promise<ConsoleResponse> {
  const jobId = ctx.params[0]!;
  const destination = ctx.form!.get('destination')?.trim() || undefined;
  let flash: { kind: 'ok' | 'bad'; text: string };
  try {
    const result = await redeliver(jobId, destination, ctx.deps.redeliver, ctx.caller.actor);
    const queued = result.destinations.filter((d) => d.action === 'queued').map((d) => d.destination);
    const skipped = result.destinations.filter((d) => d.action !== 'queued');
    flash = {
      kind: 'ok',
      text:
        `Queued again: ${queued.join(', ')}.` +
        (skipped.length
          ? ` Left alone: ${skipped.map((d) => `${d.destination} (${d.action === 'already_delivered' ? 'delivered' : 'being delivered'})`).join(', ')}.`
          : ''),
    };
  } catch (err) {
    if (!isAppError(err) || err.status >= 500) throw err;
    flash = { kind: 'bad', text: err.message };
  }
  return redirect(consolePath('jobs', jobId), [await flashCookie(ctx.deps.oauth.cipher, flash)]);
}
