/**
 * Destinations and routing: the list (state, type, what each selects), creating and editing one
 * with each problem shown next to its field, enable/disable, delete, a test delivery, the
 * versions with who and when and Restore, and test routing (a job's fields in, the destinations
 * that select it and every rendered template out; nothing sent). Every action is a
 * shared/destinations operation, the same the JSON admin API calls, with the signed-in actor.
 *
 * The form: id, type and description as fields, the routing rule (`when`) as JSON, and one
 * control per option of the type, generated from its connector's schema (../optionsForm.ts), so
 * each problem (`options.auth.port`) is shown next to its option's control. The type is chosen
 * first (a GET: the console works without script) and is fixed on edit. Pinned
 * (DESTINATIONS_PINNED=true), every page is read-only and says why.
 */
import { describeActor } from '../../audit';
import {
  browseTarget,
  createDestination,
  deleteDestination,
  getDestination,
  listDestinations,
  listVersions,
  readBrowseInput,
  restoreVersion,
  replaceDestination,
  sendTest,
  setDestinationEnabled,
  testRouting,
  type DestinationView,
  type DestinationsView,
} from '../../destinations';
import { CONNECTORS } from '../../delivery';
import { isAppError, ValidationError, type FieldProblem } from '../../errors';
import { listConnections } from '../../oauth';
import type { PageContext } from '../context';
import { flashCookie } from '../flash';
import { html, type SafeHtml } from '../html';
import { actionButton, badge, consolePath, csrfField, dataTable, field, layout, selectInput, textInput, time } from '../layout';
import { optionControls, optionProblem, optionValues, OPTION_PREFIX, readOptions, unknownOptions } from '../optionsForm';
import { htmlResponse, redirect, type ConsoleResponse } from '../response';

const TYPES = Object.keys(CONNECTORS).sort();
/** The form's controls besides the options' (`opt.<key>`, shared/console/optionsForm.ts). */
const FORM_KEYS = ['id', 'type', 'description', 'when', 'notifyUser'] as const;

/** What a destination's rule selects, in words. */
function selects(d: Pick<DestinationView, 'when' | 'enabled'>): SafeHtml | string {
  const entries = Object.entries(d.when ?? {});
  if (!entries.length) return 'every job';
  return html`${entries.map(([name, m], i) => html`${i ? ' and ' : ''}<span class="mono">${name}</span> ${matcherText(m)}`)}`;
}

function matcherText(m: unknown): string {
  if (typeof m === 'string') return `= ${m}`;
  if (Array.isArray(m)) return `is one of ${m.join(', ')}`;
  if (m && typeof m === 'object' && 'matches' in m) return `matches ${String(m.matches)}`;
  return JSON.stringify(m);
}

const enabledBadge = (d: { enabled: boolean }) => (d.enabled ? badge('ok', 'Enabled') : badge('neutral', 'Disabled'));

function pinnedNotice(view: Pick<DestinationsView, 'pinned' | 'file'>): SafeHtml | string {
  if (!view.pinned) return '';
  return html`<div class="notice warn" role="status">
    <p>
      <strong>Read-only:</strong> the destinations are pinned to the deployed
      file${view.file ? html` <span class="mono">${view.file}</span>` : ''} (DESTINATIONS_PINNED=true). Change them in its repository and
      deploy it, or set DESTINATIONS_PINNED=false to manage them here.
    </p>
  </div>`;
}

const textArea =
  (value: string, rows = 6) =>
  (attrs: SafeHtml) =>
    html`<textarea ${attrs} rows="${String(rows)}" spellcheck="false">${value}</textarea>`;

interface FormState {
  /** By control name: `id`, `type`, `description`, `when`, and `opt.<key>` for each option of the type. */
  values: Record<string, string>;
  /** By control name, as values. */
  errors: Record<string, string>;
  /** A problem no field holds (a stale ETag, a refusal). */
  general?: string;
}

const json = (v: unknown) => JSON.stringify(v ?? {}, null, 2);

function valuesOf(d?: DestinationView): Record<string, string> {
  return {
    id: d?.id ?? '',
    type: d?.type ?? '',
    description: d?.description ?? '',
    when: json(d?.when),
    notifyUser: d?.notifyUser ?? '',
    ...(d ? optionValues(d.type, d.options as Record<string, unknown> | undefined) : {}),
  };
}

/** The posted form as a destination: the options from their controls; JSON that does not parse is a field error. */
function readForm(form: URLSearchParams): { body?: Record<string, unknown>; state: FormState } {
  const values: Record<string, string> = Object.fromEntries(FORM_KEYS.map((k) => [k, form.get(k) ?? '']));
  const errors: Record<string, string> = {};
  let when: unknown;
  try {
    when = values.when!.trim() ? (JSON.parse(values.when!) as unknown) : {};
  } catch (err) {
    errors.when = `Not valid JSON: ${(err as Error).message}`;
  }
  const options = readOptions(values.type!, form);
  Object.assign(values, options.values);
  Object.assign(errors, options.errors);
  const state = { values, errors };
  if (Object.keys(errors).length) return { state };
  const body: Record<string, unknown> = { id: values.id!.trim(), type: values.type, when, options: options.options };
  if (values.description!.trim()) body.description = values.description!.trim();
  if (values.notifyUser!.trim()) body.notifyUser = values.notifyUser!.trim();
  return { body, state };
}

/** A ValidationError's problems, each next to the control its path falls under (an option's, by its top-level key). */
function withProblems(state: FormState, err: ValidationError): FormState {
  const errors = { ...state.errors };
  const rest: string[] = [];
  const add = (name: string, text: string) => (errors[name] = errors[name] ? `${errors[name]} ${text}` : text);
  for (const p of err.fields as FieldProblem[]) {
    const key = p.path.split(/[.[]/)[0]!;
    const option = key === 'options' ? optionProblem(state.values.type ?? '', p.path, p.message) : undefined;
    if (option) add(option.name, option.text);
    else if ((FORM_KEYS as readonly string[]).includes(key) && p.path !== 'options')
      add(key, key === 'when' ? `${p.path}: ${p.message}` : p.message);
    else rest.push(`${p.path || 'The destination'} ${p.message}`);
  }
  return { ...state, errors, general: rest.length ? rest.join(' ') : 'Nothing was saved: correct the fields marked below.' };
}

const generalNotice = (state: FormState) => (state.general ? html`<div class="notice bad" role="alert"><p>${state.general}</p></div>` : '');

/** The create form's first step, without a type chosen: the type, then the form for it (a GET, so no script is needed). */
function typeChoice(state: FormState): SafeHtml {
  return html`${generalNotice(state)}
    <form class="stack" method="get" action="${`${consolePath('destinations')}#create`}">
      ${field('type', 'Type', selectInput([['', 'Choose a type'], ...TYPES.map((t): [string, string] => [t, t])], state.values.type), {
        hint: 'Each type has its own options: the form for the type comes next.',
        error: state.errors.type,
      })}
      <div><button type="submit">Continue</button></div>
    </form>`;
}

/**
 * The create or edit form of a destination of the type in `state` (on create without one, the
 * type's choice first). Edit (with an ETag): the id and the type are fixed.
 */
function destinationForm(ctx: PageContext, action: string, state: FormState, options: { etag?: string; submit: string }): SafeHtml {
  const { values, errors } = state;
  const type = values.type ?? '';
  if (!options.etag && !TYPES.includes(type)) return typeChoice(state);
  const typeNote = options.etag
    ? 'To change the type, create a new destination.'
    : html`<a href="${`${consolePath('destinations')}#create`}">Change type</a> (what is typed here is not kept)`;
  return html`${generalNotice(state)}
    <form class="stack" method="post" action="${action}">
      ${csrfField(ctx.csrf)} ${options.etag ? html`<input type="hidden" name="etag" value="${options.etag}" />` : ''}
      <input type="hidden" name="type" value="${type}" />
      ${
        options.etag
          ? html`<input type="hidden" name="id" value="${values.id}" />`
          : field('id', 'Id', textInput(values.id), {
              hint: '1 to 63 lowercase letters, digits and dashes; the job records and the audit log name the destination by it.',
              error: errors.id,
            })
      }
      <div class="field">
        <span class="label">Type</span>
        <span><span class="mono">${type}</span> · ${typeNote}</span>
        ${errors.type ? html`<span class="error">${errors.type}</span>` : ''}
      </div>
      ${field('description', 'Description (optional)', textInput(values.description), { error: errors.description })}
      ${field('when', 'Routing rule (JSON)', textArea(values.when ?? '', 4), {
        hint: 'Scan fields the job must have: {} selects every job; {"workflowName": "Invoices"}, a list of values, or {"matches": "regex"}.',
        error: errors.when,
      })}
      ${field('notifyUser', 'Tell the scanning user (optional)', textInput(values.notifyUser), {
        hint: "The id of an e-mail notification channel: when this destination fails a scan for good, the person who scanned it is told through it (at the scan's userEmail).",
        error: errors.notifyUser,
      })}
      <fieldset>
        <legend>Options of ${type}</legend>
        <p class="hint">Leave a field empty to leave the option out (its default applies). docs/destinations.md describes each option.</p>
        ${optionControls(type, values, errors)}
      </fieldset>
      <div><button type="submit">${options.submit}</button></div>
    </form>`;
}

export async function destinationsPage(ctx: PageContext, form?: FormState): Promise<ConsoleResponse> {
  const view = await listDestinations(ctx.deps.destinations.source, ctx.caller.actor);
  const rows = view.destinations.map(
    (d) =>
      html`<tr>
        <td>
          <a href="${consolePath('destinations', d.id)}">${d.id}</a
          >${d.description ? html`<br /><span class="muted">${d.description}</span>` : ''}
        </td>
        <td>${d.type}</td>
        <td>${enabledBadge(d)}</td>
        <td>${selects(d)}</td>
      </tr>`,
  );
  const origin = view.pinned
    ? ''
    : html`<p class="lead">
        Version
        ${String(view.version ?? 0)}${view.updatedBy ? html`, changed by ${describeActor(view.updatedBy)} ${time(view.updatedAt)}` : ''}.
        Every change is a new version: <a href="${consolePath('destinations', 'versions')}">versions and restore</a>.
      </p>`;
  const content = html`${pinnedNotice(view)} ${origin}
    <p>
      <a href="${consolePath('destinations', 'routing-test')}">Test routing</a>: which destinations a job with given fields goes to.
      <a href="${consolePath('destinations', 'browse')}">Browse SharePoint or OneDrive</a> for a destination's folder.
    </p>
    ${dataTable('Destinations', ['Destination', 'Type', 'State', 'Selects'], rows, 'No destinations yet: jobs are stored, and marked undeliverable.')}
    ${
      ctx.canWrite && !view.pinned
        ? html`<h2 id="create">Create a destination</h2>
            ${destinationForm(ctx, consolePath('destinations'), form ?? { values: prefilled(ctx), errors: {} }, { submit: 'Create' })}`
        : ''
    }`;
  return htmlResponse(form ? 400 : 200, layout(ctx.chrome('Destinations', 'destinations'), content));
}

/** Runs a change; a refusal a user can act on goes back to the form or the page as a message. */
async function change(ctx: PageContext, back: string, work: () => Promise<string>): Promise<ConsoleResponse> {
  let flash: { kind: 'ok' | 'bad'; text: string };
  try {
    flash = { kind: 'ok', text: await work() };
  } catch (err) {
    if (!isAppError(err) || err.status >= 500) throw err;
    flash = { kind: 'bad', text: err.message };
  }
  return redirect(back, [await flashCookie(ctx.deps.oauth.cipher, flash)]);
}

export async function createDestinationAction(ctx: PageContext): Promise<ConsoleResponse> {
  const { body, state } = readForm(ctx.form!);
  if (!body) return destinationsPage(ctx, { ...state, general: 'Nothing was saved: correct the fields marked below.' });
  try {
    await createDestination(ctx.deps.destinations.source, ctx.caller.actor, body);
  } catch (err) {
    if (err instanceof ValidationError) return destinationsPage(ctx, withProblems(state, err));
    if (isAppError(err) && err.status < 500) return destinationsPage(ctx, { ...state, general: err.message });
    throw err;
  }
  return redirect(consolePath('destinations', body.id as string), [
    await flashCookie(ctx.deps.oauth.cipher, { kind: 'ok', text: `Destination '${String(body.id)}' created.` }),
  ]);
}

export async function destinationPage(ctx: PageContext, form?: FormState): Promise<ConsoleResponse> {
  const id = ctx.params[0]!;
  const source = ctx.deps.destinations.source;
  const [{ destination: d }, view] = await Promise.all([
    getDestination(source, ctx.caller.actor, id),
    listDestinations(source, ctx.caller.actor),
  ]);
  const editable = ctx.canWrite && !view.pinned;
  const unknown = unknownOptions(d.type, d.options as Record<string, unknown> | undefined);
  const actions = ctx.canWrite
    ? html`<div class="actions">
        ${
          editable
            ? d.enabled
              ? actionButton(consolePath('destinations', id, 'disable'), 'Disable', ctx.csrf, { style: 'secondary' })
              : actionButton(consolePath('destinations', id, 'enable'), 'Enable', ctx.csrf, { style: 'secondary' })
            : ''
        }
        ${actionButton(consolePath('destinations', id, 'test'), 'Send a test', ctx.csrf, {
          style: 'secondary',
          confirm: `Deliver a one-page test PDF to '${id}' now?`,
        })}
        ${
          editable
            ? actionButton(consolePath('destinations', id, 'delete'), 'Delete', ctx.csrf, {
                style: 'danger',
                confirm: `Delete the destination '${id}'? Jobs it selected go to the others, or are marked undeliverable.`,
                fields: { etag: d.etag },
              })
            : ''
        }
      </div>`
    : '';
  const content = html`<p><a href="${consolePath('destinations')}">← Destinations</a></p>
    ${pinnedNotice(view)}
    <dl class="facts">
      <dt>State</dt>
      <dd>${enabledBadge(d)}</dd>
      <dt>Type</dt>
      <dd class="mono">${d.type}</dd>
      <dt>Description</dt>
      <dd>${d.description ?? '—'}</dd>
      <dt>Selects</dt>
      <dd>${selects(d)}</dd>
      <dt>Version</dt>
      <dd>${view.pinned ? 'the pinned file' : String(view.version ?? 0)}</dd>
    </dl>
    ${actions}
    <h2>Options</h2>
    <pre>${json(d.options)}</pre>
    ${
      editable
        ? html`<h2 id="edit">Edit</h2>
            ${
              unknown.length
                ? html`<div class="notice warn" role="status">
                    <p>
                      Not options of ${d.type}, so not in the form, and left out when it is saved:
                      ${unknown.map((k, i) => html`${i ? ', ' : ''}<span class="mono">${k}</span>`)}.
                    </p>
                  </div>`
                : ''
            }
            ${destinationForm(ctx, consolePath('destinations', id), form ?? { values: valuesOf(d), errors: {} }, {
              etag: d.etag,
              submit: 'Save',
            })}`
        : ''
    }`;
  return htmlResponse(form ? 400 : 200, layout(ctx.chrome(`Destination ${id}`, 'destinations'), content));
}

export async function updateDestinationAction(ctx: PageContext): Promise<ConsoleResponse> {
  const id = ctx.params[0]!;
  const { body, state } = readForm(ctx.form!);
  state.values.id = id;
  if (!body) return destinationPage(ctx, { ...state, general: 'Nothing was saved: correct the fields marked below.' });
  const etag = ctx.form!.get('etag');
  try {
    await replaceDestination(ctx.deps.destinations.source, ctx.caller.actor, id, { ...body, id }, etag ? [etag] : undefined);
  } catch (err) {
    if (err instanceof ValidationError) return destinationPage(ctx, withProblems(state, err));
    if (isAppError(err) && err.status < 500 && err.status !== 404) return destinationPage(ctx, { ...state, general: err.message });
    throw err;
  }
  return redirect(consolePath('destinations', id), [
    await flashCookie(ctx.deps.oauth.cipher, { kind: 'ok', text: `Destination '${id}' saved.` }),
  ]);
}

export const enableAction = (enabled: boolean) => (ctx: PageContext) => {
  const id = ctx.params[0]!;
  return change(ctx, consolePath('destinations', id), async () => {
    const r = await setDestinationEnabled(ctx.deps.destinations.source, ctx.caller.actor, id, enabled);
    return r.changed
      ? `Destination '${id}' ${enabled ? 'enabled' : 'disabled'} (version ${r.version}).`
      : `Destination '${id}' was ${enabled ? 'enabled' : 'disabled'} already.`;
  });
};

export async function deleteDestinationAction(ctx: PageContext): Promise<ConsoleResponse> {
  const id = ctx.params[0]!;
  const etag = ctx.form!.get('etag');
  const source = ctx.deps.destinations.source;
  try {
    await deleteDestination(source, ctx.caller.actor, id, etag ? [etag] : undefined);
  } catch (err) {
    if (!isAppError(err) || err.status >= 500) throw err;
    return redirect(consolePath('destinations', id), [await flashCookie(ctx.deps.oauth.cipher, { kind: 'bad', text: err.message })]);
  }
  return redirect(consolePath('destinations'), [
    await flashCookie(ctx.deps.oauth.cipher, { kind: 'ok', text: `Destination '${id}' deleted.` }),
  ]);
}

export async function sendTestAction(ctx: PageContext): Promise<ConsoleResponse> {
  const id = ctx.params[0]!;
  let flash: { kind: 'ok' | 'bad'; text: string };
  try {
    const r = await sendTest(ctx.deps.destinations.sendTest, ctx.caller.actor, id, {});
    flash =
      r.outcome === 'delivered'
        ? { kind: 'ok', text: `Test delivered to '${id}'${r.remoteId ? `: ${r.remoteId}` : ''}.` }
        : {
            kind: 'bad',
            text: `The test delivery to '${id}' failed (${r.error?.code}${r.error?.retryable ? ', a job would be retried' : ''}): ${r.error?.message}`,
          };
  } catch (err) {
    if (!isAppError(err) || err.status >= 500) throw err;
    flash = { kind: 'bad', text: err.message };
  }
  return redirect(consolePath('destinations', id), [await flashCookie(ctx.deps.oauth.cipher, flash)]);
}

export async function versionsPage(ctx: PageContext): Promise<ConsoleResponse> {
  const source = ctx.deps.destinations.source;
  const before = /^\d{1,10}$/.test(ctx.request.query.get('before') ?? '') ? Number(ctx.request.query.get('before')) : undefined;
  const [list, view] = await Promise.all([
    listVersions(source, ctx.caller.actor, { before, limit: 50 }),
    listDestinations(source, ctx.caller.actor),
  ]);
  const rows = list.versions.map(
    (v) =>
      html`<tr>
        <td>${String(v.version)}${v.version === list.current ? html` ${badge('ok', 'In force')}` : ''}</td>
        <td>${time(v.createdAt)}</td>
        <td>${describeActor(v.actor)}</td>
        <td>${v.summary}</td>
        <td>${String(v.count)}</td>
        <td>
          ${
            ctx.canWrite && !list.pinned && v.version !== list.current
              ? actionButton(consolePath('destinations', 'versions', String(v.version), 'restore'), `Restore ${v.version}`, ctx.csrf, {
                  style: 'secondary',
                  confirm: `Make version ${v.version} the one in force again (as a new version)?`,
                  fields: { etag: view.etag ?? '' },
                })
              : ''
          }
        </td>
      </tr>`,
  );
  const content = html`<p><a href="${consolePath('destinations')}">← Destinations</a></p>
    ${pinnedNotice(view)}
    <p class="lead">
      Every change to the destinations, newest first. Restoring one makes its destinations current again, as a new version.
    </p>
    ${dataTable('Versions', ['Version', 'When', 'Who', 'What', 'Destinations', ''], rows, 'No version stored yet.')}
    ${list.next ? html`<p><a href="${consolePath('destinations', 'versions')}?before=${String(list.next)}">Older versions</a></p>` : ''}`;
  return htmlResponse(200, layout(ctx.chrome('Destination versions', 'destinations'), content));
}

export async function restoreAction(ctx: PageContext): Promise<ConsoleResponse> {
  const version = Number(ctx.params[0]);
  const etag = ctx.form!.get('etag');
  return change(ctx, consolePath('destinations', 'versions'), async () => {
    const r = await restoreVersion(ctx.deps.destinations.source, ctx.caller.actor, version, etag ? [etag] : undefined);
    return r.changed ? `Version ${version} restored as version ${r.version}.` : `Version ${version} is the one in force already.`;
  });
}

/** `name=value` per line → fields. */
function parseFields(text: string): Record<string, string> {
  const fields: Record<string, string> = {};
  for (const line of text.split(/\r?\n/)) {
    if (!line.trim()) continue;
    const at = line.indexOf('=');
    if (at < 0) fields[line.trim()] = '';
    else fields[line.slice(0, at).trim()] = line.slice(at + 1).trim();
  }
  return fields;
}

export async function routingTestPage(ctx: PageContext): Promise<ConsoleResponse> {
  const q = ctx.request.query;
  const fieldsText = q.get('fields') ?? 'workflowName=Scan to Fax\nusername=jdoe\ncustom_RoutingKey=fax';
  const filesText = q.get('files') ?? 'scan.pdf';
  let result: SafeHtml | string = '';
  let error: string | undefined;
  if (q.has('fields')) {
    const files = filesText
      .split(/\r?\n|,/)
      .map((f) => f.trim())
      .filter(Boolean)
      .map((name) => ({ name }));
    try {
      const r = await testRouting(ctx.deps.destinations.tryOut, ctx.caller.actor, { fields: parseFields(fieldsText), files });
      result = routingResult(r);
    } catch (err) {
      if (!isAppError(err) || err.status >= 500) throw err;
      error = err.message;
    }
  }
  const content = html`<p><a href="${consolePath('destinations')}">← Destinations</a></p>
    <p class="lead">
      Which destinations a job with these fields goes to, and every template of each rendered as its delivery would render it. Nothing is
      sent.
    </p>
    <form class="stack" method="get" action="${consolePath('destinations', 'routing-test')}">
      ${field('fields', 'Job fields, one name=value a line', textArea(fieldsText, 6), { error })}
      ${field('files', 'File names, one a line', textArea(filesText, 2))}
      <div><button type="submit">Test routing</button></div>
    </form>
    ${result}`;
  return htmlResponse(200, layout(ctx.chrome('Test routing', 'destinations'), content));
}

function routingResult(r: Awaited<ReturnType<typeof testRouting>>): SafeHtml {
  const summary = r.selected.length
    ? html`<p role="status">Selected: ${r.selected.map((id, i) => html`${i ? ', ' : ''}<strong>${id}</strong>`)}.</p>`
    : html`<div class="notice warn" role="status"><p>No destination selects this job: it would be marked undeliverable.</p></div>`;
  const rows = r.destinations.map(
    (d) =>
      html`<tr>
        <td><a href="${consolePath('destinations', d.id)}">${d.id}</a></td>
        <td>${d.selected ? badge('ok', 'Selected') : d.enabled ? badge('neutral', 'Not selected') : badge('neutral', 'Disabled')}</td>
        <td>
          ${d.rule.length ? d.rule.map((x) => html`<span class="mono">${x.field}</span> ${x.matched ? '✓' : '✗'} ${x.value === undefined ? '(missing)' : x.value}<br />`) : 'every job'}
        </td>
      </tr>`,
  );
  const templates = r.destinations
    .filter((d) => d.templates?.length)
    .flatMap((d) =>
      d.templates!.map(
        (t) =>
          html`<tr>
            <td>${d.id}</td>
            <td class="mono">${t.option}${t.file ? ` (file ${t.file})` : ''}</td>
            <td class="mono">${t.template}</td>
            <td>
              ${t.error ? html`${badge('bad', t.error.code)} ${t.error.message}` : html`<span class="mono">${t.rendered ?? ''}</span>`}
            </td>
          </tr>`,
      ),
    );
  return html`<h2>Result${r.version === undefined ? '' : ` (version ${r.version})`}</h2>
    ${summary}
    ${r.filledFromDirectory.length ? html`<p class="muted">Filled in from the directory: ${r.filledFromDirectory.join(', ')}.</p>` : ''}
    ${dataTable('Destinations and their rules', ['Destination', 'Outcome', 'Rule'], rows, 'No destinations.')}
    <h2>Rendered templates</h2>
    ${dataTable('Rendered templates', ['Destination', 'Option', 'Template', 'Rendered'], templates, 'No template to render.')}`;
}

/** The create form's first values: `type` and the options' controls (`opt.<key>`) from the address, as the type's choice and the browse page link them. */
function prefilled(ctx: PageContext): Record<string, string> {
  const q = ctx.request.query;
  const type = q.get('type') ?? '';
  const values = valuesOf();
  if (!TYPES.includes(type)) return values;
  values.type = type;
  for (const [name, value] of Object.entries(optionValues(type, {}))) values[name] = q.get(name) ?? value;
  return values;
}

const BROWSE_TYPES: ReadonlyArray<[string, string]> = [
  ['sharePoint', 'SharePoint document library'],
  ['oneDrive', "OneDrive (the connection's account)"],
];

/** The browse page's address for `q` changed by `change`. */
function browseLink(q: URLSearchParams, change: Record<string, string | undefined>): string {
  const next = new URLSearchParams(q);
  for (const [k, v] of Object.entries(change)) {
    if (v === undefined) next.delete(k);
    else next.set(k, v);
  }
  return `${consolePath('destinations', 'browse')}?${next.toString()}`;
}

export async function browsePage(ctx: PageContext): Promise<ConsoleResponse> {
  const q = ctx.request.query;
  const connections = (await listConnections(ctx.deps.oauth)).filter((c) => c.type === 'sharePoint' || c.type === 'oneDrive');
  const type = q.get('type') ?? 'sharePoint';
  let result: SafeHtml | string = '';
  let error: string | undefined;
  const errors: Record<string, string> = {};
  if (q.has('connectionId')) {
    try {
      const input = readBrowseInput((name) => q.get(name));
      const r = await browseTarget(ctx.deps.destinations.browse, ctx.caller.actor, input);
      result = browseResult(q, r);
    } catch (err) {
      if (err instanceof ValidationError) for (const f of err.fields) errors[f.path] = f.message;
      else if (isAppError(err) && err.status < 500) error = err.message;
      else if (isAppError(err) && err.code === 'browse_failed') error = err.message;
      else throw err;
    }
  }
  const content = html`<p><a href="${consolePath('destinations')}">← Destinations</a></p>
    <p class="lead">
      The libraries and folders the connection's account can see, one level at a time; pick a folder to create a destination that delivers
      there. Nothing is changed.
    </p>
    ${error ? html`<div class="notice bad" role="alert"><p>${error}</p></div>` : ''}
    <form class="stack" method="get" action="${consolePath('destinations', 'browse')}">
      ${field('type', 'Where', selectInput(BROWSE_TYPES, type), { error: errors.type })}
      ${field(
        'connectionId',
        'Connection',
        selectInput(
          connections.map((c) => [c.id, `${c.displayName} (${c.type}${c.account?.upn ? `, ${c.account.upn}` : ''})`]),
          q.get('connectionId') ?? '',
        ),
        {
          hint: connections.length
            ? 'An authorized connection of type sharePoint or oneDrive.'
            : 'Create and authorize a sharePoint or oneDrive connection first.',
          error: errors.connectionId,
        },
      )}
      ${field('site', 'SharePoint site (URL)', textInput(q.get('site') ?? '', 'url'), {
        hint: 'For SharePoint, e.g. https://contoso.sharepoint.com/sites/Scans.',
        error: errors.site,
      })}
      <div><button type="submit">Browse</button></div>
    </form>
    ${result}`;
  return htmlResponse(200, layout(ctx.chrome('Browse for a folder', 'destinations'), content));
}

function browseResult(q: URLSearchParams, r: Awaited<ReturnType<typeof browseTarget>>): SafeHtml {
  if (r.libraries) {
    return html`<h2>Document libraries of ${r.siteName ?? r.site ?? ''}</h2>
      ${
        r.libraries.length
          ? html`<ul>
              ${r.libraries.map((name) => html`<li><a href="${browseLink(q, { library: name, folder: undefined })}">${name}</a></li>`)}
            </ul>`
          : html`<p class="muted">This site has no document library the account can see.</p>`
      }`;
  }
  const parts = r.folder ? r.folder.split('/') : [];
  const where = [r.library ?? 'OneDrive', ...parts].join(' / ');
  const up = parts.length
    ? browseLink(q, { folder: parts.slice(0, -1).join('/') || undefined })
    : r.library
      ? browseLink(q, { library: undefined, folder: undefined })
      : undefined;
  const prefill = new URLSearchParams([
    ['type', r.type],
    ...Object.entries(r.options ?? {}).map(([k, v]): [string, string] => [OPTION_PREFIX + k, v]),
  ]);
  const use = `${consolePath('destinations')}?${prefill.toString()}#create`;
  return html`<h2>${where}</h2>
    <div class="actions">
      <a class="button" href="${use}">Use this folder</a>
      ${up ? html`<a href="${up}">↑ Up</a>` : ''}
    </div>
    ${
      r.folders?.length
        ? html`<ul>
            ${r.folders.map((name) => html`<li><a href="${browseLink(q, { folder: r.folder ? `${r.folder}/${name}` : name })}">${name}</a></li>`)}
          </ul>`
        : html`<p class="muted">No folders in here.</p>`
    }
    ${r.truncated ? html`<p class="muted">Only the first 500 folders are listed.</p>` : ''}
    <p class="muted">The destination's options: <span class="mono">${JSON.stringify(r.options ?? {})}</span></p>`;
}
