/** The Overview: what needs attention first (each with its fix), then today's numbers. */
import { directoryStatusDeps } from '../../directoryStatus';
import { overview } from '../../overview';
import type { PageContext } from '../context';
import { html } from '../html';
import { consolePath, layout } from '../layout';
import { htmlResponse, type ConsoleResponse } from '../response';
import { duration } from './jobs';

export async function overviewPage(ctx: PageContext): Promise<ConsoleResponse> {
  const { attention, jobs } = await overview({
    oauth: ctx.deps.oauth,
    jobs: ctx.deps.jobs,
    directory: directoryStatusDeps(ctx.deps.config, ctx.deps.storage),
    mailboxes: ctx.deps.mailboxes,
  });
  const today = jobs.today;
  const day = jobs.day;
  const card = (value: string | number, label: string, href?: string) =>
    html`<div class="card">
      <div class="value">${href ? html`<a href="${href}">${value}</a>` : value}</div>
      <div class="label">${label}</div>
    </div>`;
  const jobsOf = (status?: string) =>
    `${consolePath('jobs')}?${new URLSearchParams({ from: day, ...(status ? { status } : {}) }).toString()}`;
  const content = html`<h2>Needs attention</h2>
    ${
      attention.length
        ? html`<ul class="attention">
            ${attention.map(
              (a) =>
                html`<li class="notice ${a.severity}">
                  <p><strong>${a.title}</strong></p>
                  <p>${a.detail}</p>
                  ${
                    a.links?.length
                      ? html`<ul>
                          ${a.links.map((l) => html`<li><a href="${l.href}">${l.label}</a></li>`)}
                        </ul>`
                      : ''
                  }
                  <p><a href="${a.fix.href}">${a.fix.label}</a></p>
                </li>`,
            )}
          </ul>`
        : html`<div class="notice ok"><p>Nothing needs attention.</p></div>`
    }
    <h2>Today <span class="muted">(${day}, UTC)</span></h2>
    <div class="cards">
      ${card(today.received, 'jobs received', jobsOf())} ${card(today.delivered, 'delivered', jobsOf('delivered'))}
      ${card(today.failed, 'failed (all or some destinations)', jobsOf('failed,partially_failed'))}
      ${card(today.latencyMs ? duration(today.latencyMs.p50) : '—', 'received → delivered, median (p50)')}
      ${card(today.latencyMs ? duration(today.latencyMs.p95) : '—', 'received → delivered, p95')}
    </div>
    <p class="muted">
      ${
        today.latencyMs
          ? `Latency over the ${today.latencyMs.count} job(s) delivered today.`
          : 'No job has been delivered today: there is no latency to show.'
      }
    </p>`;
  return htmlResponse(200, layout(ctx.chrome('Overview', 'overview'), content));
}
