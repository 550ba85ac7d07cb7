/** The audit log: who did what and when, before → after, searchable, newest first. */
import { describeActor, findAudit, type AuditEntry } from '../../audit';
import type { PageContext } from '../context';
import { html } from '../html';
import { consolePath, dataTable, field, layout, textInput, time } from '../layout';
import { htmlResponse, type ConsoleResponse } from '../response';

const DAY = 86_400_000;

const shown = (value: unknown) => (value === undefined ? '' : html`<pre>${JSON.stringify(value, null, 2)}</pre>`);

export async function auditPage(ctx: PageContext): Promise<ConsoleResponse> {
  const q = ctx.request.query;
  const text = (q.get('q') ?? '').slice(0, 200);
  const days = [1, 7, 30, 90].includes(Number(q.get('days'))) ? Number(q.get('days')) : 7;
  const to = new Date();
  const entries = await findAudit(ctx.deps.storage, { from: new Date(to.getTime() - days * DAY), to, text, limit: 200 });
  const rows = entries.map(
    (e: AuditEntry) =>
      html`<tr>
        <td>${time(e.at)}</td>
        <td>${describeActor(e.actor)}</td>
        <td class="mono">${e.action}</td>
        <td class="mono">${e.target}</td>
        <td>${shown(e.before)}</td>
        <td>${shown(e.after)}</td>
      </tr>`,
  );
  const content = html`<p class="lead">Every administrator action, from the console and through the admin API.</p>
    <form class="filters" method="get" action="${consolePath('audit')}" role="search">
      ${field('q', 'Search', textInput(text, 'search'), { hint: 'Who, action or target' })}
      ${field(
        'days',
        'Period',
        (attrs) =>
          html`<select ${attrs}>
            ${[1, 7, 30, 90].map((d) => html`<option value="${d}" ${d === days ? html`selected` : ''}>Last ${d} day${d > 1 ? 's' : ''}</option>`)}
          </select>`,
      )}
      <div><button type="submit">Show</button></div>
    </form>
    ${dataTable('Audit log', ['When', 'Who', 'Action', 'Target', 'Before', 'After'], rows, 'Nothing was changed in this period.')}
    ${entries.length === 200 ? html`<p class="muted">The 200 newest entries are shown: narrow the period or the search.</p>` : ''}`;
  return htmlResponse(200, layout(ctx.chrome('Audit log', 'audit'), content));
}
