/** The Overview: what needs attention first (each with its fix), then today's numbers. */
import { directoryStatusDeps } from '../../directoryStatus';
import { connectionAttention, directoryAttentionItems, type AttentionItem } from '../../overview';
import type { PageContext } from '../context';
import { html } from '../html';
import { layout } from '../layout';
import { htmlResponse, type ConsoleResponse } from '../response';

export async function overviewPage(ctx: PageContext): Promise<ConsoleResponse> {
  const attention: AttentionItem[] = await connectionAttention(ctx.deps);
  attention.push(...(await directoryAttentionItems(directoryStatusDeps(ctx.deps.config, ctx.deps.storage))));
  const content = html`<h2>Needs attention</h2>
    ${
      attention.length
        ? html`<ul class="attention">
            ${attention.map(
              (a) =>
                html`<li class="notice ${a.severity}">
                  <p><strong>${a.title}</strong></p>
                  <p>${a.detail}</p>
                  <p><a href="${a.fix.href}">${a.fix.label}</a></p>
                </li>`,
            )}
          </ul>`
        : html`<div class="notice ok"><p>Nothing needs attention.</p></div>`
    }`;
  return htmlResponse(200, layout(ctx.chrome('Overview', 'overview'), content));
}
