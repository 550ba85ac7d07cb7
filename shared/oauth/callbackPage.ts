/** The small HTML page the administrator sees after signing in. Every value is escaped. */
import { escapeHtml } from '../delivery';
import type { CallbackOutcome } from './authorize';

export function renderCallbackPage(outcome: CallbackOutcome): string {
  const body = outcome.ok
    ? `<h1>Connection authorized</h1>
<p><strong>${escapeHtml(outcome.connection.displayName)}</strong> (${escapeHtml(outcome.connection.type)}) now acts as
<strong>${escapeHtml(outcome.connection.account?.upn ?? outcome.connection.account?.oid ?? '')}</strong>.</p>
<p>Granted permissions:</p><ul>${outcome.connection.grantedScopes.map((s) => `<li><code>${escapeHtml(s)}</code></li>`).join('')}</ul>
<p>You can close this page.</p>`
    : `<h1>${escapeHtml(outcome.title)}</h1>
<p>${escapeHtml(outcome.message)}</p>${outcome.connectionId ? `<p>Connection: <code>${escapeHtml(outcome.connectionId)}</code></p>` : ''}`;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>ScanRelay</title>
<style>body{font-family:system-ui,sans-serif;max-width:40rem;margin:3rem auto;padding:0 1rem;line-height:1.5}code{background:#f2f2f2;padding:0 .2em}</style>
</head><body>
${body}
</body></html>
`;
}
