/**
 * The console's two static files, served from /api/console/assets/ under a content hash (cached
 * for a year, immutable): its style sheet and its one small script. The CSP allows scripts and
 * styles from the app itself only, so there is no inline script or style anywhere.
 *
 * The script only improves pages that work without it: copy buttons, a confirmation before
 * destructive forms, times shown in the browser's time zone.
 */
import { createHash } from 'node:crypto';

const CSS = `
:root {
  --fg: #1b1f24; --muted: #57606a; --bg: #ffffff; --panel: #f6f8fa; --line: #d0d7de;
  --accent: #0b5cad; --accent-fg: #ffffff; --ok: #116329; --ok-bg: #dafbe1; --warn: #7d4e00; --warn-bg: #fff8c5;
  --bad: #a40e26; --bad-bg: #ffebe9; --focus: #0b5cad;
  font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
  color: var(--fg); background: var(--bg); line-height: 1.45;
}
* { box-sizing: border-box; }
body { margin: 0; }
a { color: var(--accent); }
a:focus-visible, button:focus-visible, input:focus-visible, select:focus-visible, textarea:focus-visible, [tabindex]:focus-visible, summary:focus-visible {
  outline: 3px solid var(--focus); outline-offset: 2px;
}
.skip { position: absolute; left: -999px; top: 0; background: var(--accent); color: var(--accent-fg); padding: .5rem 1rem; z-index: 10; }
.skip:focus { left: 0; }
header.top { display: flex; flex-wrap: wrap; align-items: center; gap: .5rem 1.5rem; padding: .6rem 1.25rem; background: #0d1b2a; color: #fff; }
header.top .brand { font-weight: 700; font-size: 1.1rem; color: #fff; text-decoration: none; }
header.top nav ul { display: flex; flex-wrap: wrap; gap: .25rem; list-style: none; margin: 0; padding: 0; }
header.top nav a { display: block; padding: .35rem .65rem; border-radius: 6px; color: #dbe7f3; text-decoration: none; }
header.top nav a:hover { background: #1f3a57; color: #fff; }
header.top nav a[aria-current="page"] { background: #fff; color: #0d1b2a; font-weight: 600; }
header.top nav a:focus-visible { outline-color: #ffd33d; }
header.top .who { margin-left: auto; display: flex; align-items: center; gap: .75rem; font-size: .9rem; color: #dbe7f3; }
header.top .who button { background: transparent; color: #fff; border: 1px solid #8aa4bf; }
main { max-width: 1200px; margin: 0 auto; padding: 1.25rem; }
main:focus { outline: none; }
h1 { font-size: 1.6rem; margin: .25rem 0 1rem; }
h2 { font-size: 1.2rem; margin: 1.75rem 0 .6rem; }
h3 { font-size: 1rem; margin: 1.25rem 0 .5rem; }
p.lead { color: var(--muted); margin-top: -.5rem; }
.muted { color: var(--muted); }
code, .mono { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: .9em; overflow-wrap: anywhere; }
.notice { border: 1px solid var(--line); border-left-width: 6px; border-radius: 6px; padding: .6rem .9rem; margin: .75rem 0; background: var(--panel); }
.notice.ok { border-left-color: var(--ok); background: var(--ok-bg); }
.notice.warn { border-left-color: #bf8700; background: var(--warn-bg); }
.notice.bad { border-left-color: var(--bad); background: var(--bad-bg); }
.notice > :first-child { margin-top: 0; } .notice > :last-child { margin-bottom: 0; }
ul.attention { list-style: none; padding: 0; margin: 0; display: grid; gap: .5rem; }
.badge { display: inline-block; padding: .05rem .5rem; border-radius: 999px; font-size: .8rem; font-weight: 600; border: 1px solid transparent; white-space: nowrap; }
.badge.ok { color: var(--ok); background: var(--ok-bg); border-color: #4ac26b; }
.badge.warn { color: var(--warn); background: var(--warn-bg); border-color: #d4a72c; }
.badge.bad { color: var(--bad); background: var(--bad-bg); border-color: #ff8182; }
.badge.neutral { color: var(--muted); background: var(--panel); border-color: var(--line); }
.cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(11rem, 1fr)); gap: .75rem; margin: .5rem 0 1rem; }
.card { border: 1px solid var(--line); border-radius: 8px; padding: .75rem 1rem; background: var(--bg); }
.card .value { font-size: 1.6rem; font-weight: 700; }
.card .label { color: var(--muted); font-size: .9rem; }
.table-wrap { overflow-x: auto; border: 1px solid var(--line); border-radius: 8px; }
table { border-collapse: collapse; width: 100%; font-size: .92rem; }
caption { text-align: left; padding: .5rem .75rem; font-weight: 600; }
th, td { text-align: left; vertical-align: top; padding: .45rem .75rem; border-top: 1px solid var(--line); }
thead th { background: var(--panel); border-top: none; white-space: nowrap; }
tbody tr:hover { background: #f3f7fb; }
dl.facts { display: grid; grid-template-columns: minmax(9rem, max-content) 1fr; gap: .35rem 1rem; margin: 0; }
dl.facts dt { color: var(--muted); }
dl.facts dd { margin: 0; overflow-wrap: anywhere; }
form.stack { display: grid; gap: .85rem; max-width: 42rem; }
form.inline { display: inline; }
.filters { display: flex; flex-wrap: wrap; gap: .6rem 1rem; align-items: end; margin-bottom: 1rem; }
.field { display: grid; gap: .25rem; }
.field label, .field .label { font-weight: 600; font-size: .92rem; }
.field .hint { color: var(--muted); font-size: .85rem; }
.field .error { color: var(--bad); font-size: .88rem; font-weight: 600; }
fieldset { display: grid; gap: .85rem; margin: 0; padding: .75rem 1rem 1rem; border: 1px solid var(--line); border-radius: 8px; min-width: 0; }
legend { font-weight: 600; padding: 0 .35rem; }
fieldset > .hint { margin: 0; color: var(--muted); font-size: .85rem; }
.check { display: grid; grid-template-columns: auto 1fr; gap: .15rem .5rem; align-items: baseline; }
.check label { font-weight: 600; font-size: .92rem; }
.check .hint, .check .error { grid-column: 2; font-size: .85rem; }
.check .hint { color: var(--muted); }
.check .error { color: var(--bad); font-weight: 600; }
ul.plain { list-style: none; margin: 0; padding: 0; display: grid; gap: .25rem; }
input[type=text], input[type=search], input[type=email], input[type=url], input[type=number], input[type=datetime-local], select, textarea {
  font: inherit; padding: .4rem .55rem; border: 1px solid #8c959f; border-radius: 6px; background: #fff; color: var(--fg); min-width: 0; width: 100%;
}
textarea { min-height: 9rem; font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: .88rem; }
[aria-invalid="true"] { border-color: var(--bad); box-shadow: 0 0 0 1px var(--bad); }
button, .button { font: inherit; display: inline-block; padding: .4rem .9rem; border-radius: 6px; border: 1px solid var(--accent); background: var(--accent); color: var(--accent-fg); cursor: pointer; text-decoration: none; }
button.secondary, .button.secondary { background: #fff; color: var(--accent); }
button.danger { background: #fff; color: var(--bad); border-color: var(--bad); }
.actions { display: flex; flex-wrap: wrap; gap: .5rem; align-items: center; margin: .75rem 0; }
.actions form.inline { display: inline-flex; flex-wrap: wrap; gap: .5rem; align-items: center; }
.actions input { width: 18rem; max-width: 100%; }
td .actions { margin: 0; flex-wrap: nowrap; white-space: nowrap; }
.copy { display: flex; gap: .5rem; align-items: center; flex-wrap: wrap; }
.copy code { background: var(--panel); border: 1px solid var(--line); padding: .25rem .5rem; border-radius: 6px; }
.pager { display: flex; gap: 1rem; margin: .75rem 0; align-items: center; }
ol.timeline { list-style: none; padding: 0; margin: .25rem 0; border-left: 2px solid var(--line); }
ol.timeline li { position: relative; padding: .2rem 0 .5rem 1rem; }
ol.timeline li::before { content: ""; position: absolute; left: -6px; top: .55rem; width: 10px; height: 10px; border-radius: 50%; background: var(--line); }
ol.timeline li.ok::before { background: var(--ok); } ol.timeline li.bad::before { background: var(--bad); } ol.timeline li.warn::before { background: #bf8700; }
pre { background: var(--panel); border: 1px solid var(--line); border-radius: 6px; padding: .6rem .8rem; overflow-x: auto; font-size: .85rem; white-space: pre-wrap; overflow-wrap: anywhere; }
.sr-only { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; }
.signin { max-width: 32rem; margin: 3rem auto; }
@media (max-width: 640px) {
  header.top { padding: .5rem .75rem; }
  header.top .who { margin-left: 0; width: 100%; justify-content: space-between; }
  main { padding: .75rem; }
  dl.facts { grid-template-columns: 1fr; }
  dl.facts dd { margin-bottom: .4rem; }
}
`;

const JS = `'use strict';
document.addEventListener('click', function (event) {
  var button = event.target.closest('button[data-copy]');
  if (!button) return;
  var source = document.getElementById(button.getAttribute('data-copy'));
  var status = document.getElementById(button.getAttribute('data-copy') + '-status');
  if (!source || !navigator.clipboard) return;
  navigator.clipboard.writeText(source.textContent.trim()).then(function () {
    if (status) status.textContent = 'Copied.';
  }, function () {
    if (status) status.textContent = 'Copy failed: select the text and copy it.';
  });
});
document.addEventListener('submit', function (event) {
  var form = event.target;
  var question = form.getAttribute('data-confirm');
  if (question && !window.confirm(question)) event.preventDefault();
});
document.querySelectorAll('time[datetime]').forEach(function (el) {
  var d = new Date(el.getAttribute('datetime'));
  if (isNaN(d.getTime())) return;
  el.title = el.getAttribute('datetime');
  el.textContent = d.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'medium' });
});
`;

export interface Asset {
  path: string;
  contentType: string;
  body: string;
}

function asset(name: string, contentType: string, body: string): Asset {
  const hash = createHash('sha256').update(body).digest('hex').slice(0, 12);
  return { path: `/assets/${name.replace('.', `.${hash}.`)}`, contentType, body };
}

export const STYLESHEET = asset('console.css', 'text/css; charset=utf-8', CSS);
export const SCRIPT = asset('console.js', 'text/javascript; charset=utf-8', JS);
export const ASSETS: readonly Asset[] = [STYLESHEET, SCRIPT];
