/** The small HTML page the administrator sees after signing in. Every value is escaped. */
import type { CallbackOutcome } from './authorize';

const escape = (s: string) => s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

export function renderCallbackPage(outcome: CallbackOutcome): string {
  const body = outcome.ok
    ? `<h1>Connection authorized</h1>
<p><strong>${escape(outcome.connection.displayName)}</strong> (${escape(outcome.connection.type)}) now acts as
<strong>${escape(outcome.connection.account?.upn ?? outcome.connection.account?.oid ?? '')}</strong>.</p>
<p>Granted permissions:</p><ul>${outcome.connection.grantedScopes.map((s) => `<li><code>${escape(s)}</code></li>`).join('')}</ul>
<p>You can close this page.</p>`
    : `<h1>${escape(outcome.title)}</h1>
<p>${escape(outcome.message)}</p>${outcome.connectionId ? `<p>Connection: <code>${escape(outcome.connectionId)}</code></p>` : ''}`;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>ScanRelay</title>
<style>body{font-family:system-ui,sans-serif;max-width:40rem;margin:3rem auto;padding:0 1rem;line-height:1.5}code{background:#f2f2f2;padding:0 .2em}</style>
</head><body>
${body}
</body></html>
`;
}
