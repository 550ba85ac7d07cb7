/**
 * Mailboxes: the mailbox sources (a mailbox folder ScanRelay reads; each message's attachments
 * become a scan job). The list with each source's mailbox, folder, workflowName, state and status
 * (last read, problem, subscription), a source's page with its options, status and latest
 * messages (the job of a stored one, the code and reason of a rejected one), creating and editing
 * one with each problem shown next to its field, and delete. Every action is a
 * shared/mailbox/sources.ts operation, the same the JSON admin API calls, with the signed-in actor.
 *
 * The form: the id, then one control per option, generated from the source's schema
 * (mailboxSourceSchema through ../optionsForm.ts), so no field is written here. Readers see the
 * pages without the form and the delete button.
 */
import { schemaFields } from '../../delivery';
import { isAppError, ValidationError, type FieldProblem } from '../../errors';
import { createSource, deleteSource, getSource, listSources, mailboxSourceSchema, replaceSource, type SourceView } from '../../mailbox';
import type { PageContext } from '../context';
import { flashCookie } from '../flash';
import { html, type SafeHtml } from '../html';
import { actionButton, badge, consolePath, csrfField, dataTable, field, layout, textInput, time, type Tone } from '../layout';
import { optionControls, optionProblem, optionValues, readOptions } from '../optionsForm';
import { htmlResponse, redirect, type ConsoleResponse } from '../response';

/** The source's options, as the form's controls (`opt.<key>`) and the options list of its page show them. */
const FIELDS = schemaFields(mailboxSourceSchema);

interface FormState {
  /** By control name: `id`, and `opt.<key>` for each option. */
  values: Record<string, string>;
  /** By control name. */
  errors: Record<string, string>;
  /** A problem no field holds (a stale ETag, an id taken). */
  general?: string;
}

const NOT_SAVED = 'Nothing was saved: correct the fields marked below.';

const text = (v: unknown): string => (typeof v === 'string' ? v : v === undefined || v === null ? '' : JSON.stringify(v));

/** An option's stored value as the page shows it: a list joined, a flag as Yes or No. */
function shown(v: unknown): string {
  if (v === undefined || v === null || v === '') return '—';
  if (Array.isArray(v)) return v.map(String).join(', ');
  if (typeof v === 'boolean') return v ? 'Yes' : 'No';
  return typeof v === 'object' ? JSON.stringify(v) : text(v);
}

const enabledBadge = (s: SourceView) => (s.options.enabled === false ? badge('neutral', 'Disabled') : badge('ok', 'Enabled'));

const problemCell = (s: SourceView) =>
  s.status.problem ? html`${badge('bad', 'Problem')} ${s.status.problem} <span class="muted">(${time(s.status.problemAt)})</span>` : '—';

const OUTCOME: Record<string, [Tone, string]> = {
  stored: ['ok', 'Stored'],
  duplicate: ['neutral', 'Duplicate'],
  rejected: ['bad', 'Rejected'],
};

/** The posted form as a source: `{ id, ...options }`; JSON that does not parse is a field error. */
function readForm(form: URLSearchParams): { body?: Record<string, unknown>; state: FormState } {
  const options = readOptions(FIELDS, form);
  const values = { id: form.get('id') ?? '', ...options.values };
  const state = { values, errors: { ...options.errors } };
  if (Object.keys(state.errors).length) return { state: { ...state, general: NOT_SAVED } };
  return { body: { id: values.id.trim(), ...options.options }, state };
}

/** A ValidationError's problems, each next to the control its path falls under. */
function withProblems(state: FormState, err: ValidationError): FormState {
  const errors = { ...state.errors };
  const rest: string[] = [];
  const add = (name: string, message: string) => (errors[name] = errors[name] ? `${errors[name]} ${message}` : message);
  for (const p of err.fields as FieldProblem[]) {
    const option = optionProblem(FIELDS, p.path, p.message, '');
    if (option) add(option.name, option.text);
    else if (p.path === 'id') add('id', p.message);
    else rest.push(`${p.path || 'The source'} ${p.message}`);
  }
  return { ...state, errors, general: rest.length ? rest.join(' ') : NOT_SAVED };
}

const generalNotice = (state: FormState) => (state.general ? html`<div class="notice bad" role="alert"><p>${state.general}</p></div>` : '');

/** The create form (without an ETag: with the id) or the edit form of a source. */
function sourceForm(ctx: PageContext, action: string, state: FormState, options: { etag?: string; submit: string }): SafeHtml {
  const { values, errors } = state;
  return html`${generalNotice(state)}
    <form class="stack" method="post" action="${action}">
      ${csrfField(ctx.csrf)} ${options.etag ? html`<input type="hidden" name="etag" value="${options.etag}" />` : ''}
      ${
        options.etag
          ? ''
          : field('id', 'Id', textInput(values.id), {
              hint: '1 to 40 lowercase letters, digits and dashes; the audit log names the source by it. It cannot be changed later.',
              error: errors.id,
            })
      }
      <fieldset>
        <legend>Options of the source</legend>
        <p class="hint">Leave a field empty to leave the option out (its default applies). docs/mailbox-ingest.md describes each option.</p>
        ${optionControls(FIELDS, values, errors)}
      </fieldset>
      <div><button type="submit">${options.submit}</button></div>
    </form>`;
}

export async function mailboxesPage(ctx: PageContext, form?: FormState): Promise<ConsoleResponse> {
  const sources = await listSources(ctx.deps.mailboxes);
  const rows = sources.map(
    (s) =>
      html`<tr>
        <td><a href="${consolePath('mailboxes', s.id)}">${s.id}</a></td>
        <td>${text(s.options.mailbox)}</td>
        <td>${text(s.options.folder)}</td>
        <td>${text(s.options.workflowName)}</td>
        <td>${enabledBadge(s)}</td>
        <td>${time(s.status.lastReadAt)}</td>
        <td>${problemCell(s)}</td>
        <td>${time(s.status.subscriptionExpiresAt)}</td>
      </tr>`,
  );
  const content = html`<p class="lead">
      Mailboxes ScanRelay reads for printers that can only scan to e-mail: each message's attachments become a scan job with the source's
      workflowName, routed to the destinations like any scan; the message is then moved away (or to the rejected folder, with the reason).
    </p>
    ${dataTable(
      'Mailbox sources',
      ['Source', 'Mailbox', 'Folder', 'Workflow', 'State', 'Last read', 'Problem', 'Subscription expires'],
      rows,
      'No mailbox sources yet.',
    )}
    ${
      ctx.canWrite
        ? html`<h2 id="create">Create a mailbox source</h2>
            ${sourceForm(ctx, consolePath('mailboxes'), form ?? { values: { id: '', ...optionValues(FIELDS, {}) }, errors: {} }, {
              submit: 'Create',
            })}`
        : ''
    }`;
  return htmlResponse(form ? 400 : 200, layout(ctx.chrome('Mailboxes', 'mailboxes'), content));
}

export async function createMailboxAction(ctx: PageContext): Promise<ConsoleResponse> {
  const { body, state } = readForm(ctx.form!);
  if (!body) return mailboxesPage(ctx, state);
  try {
    await createSource(ctx.deps.mailboxes, ctx.caller.actor, body);
  } catch (err) {
    if (err instanceof ValidationError) return mailboxesPage(ctx, withProblems(state, err));
    if (isAppError(err) && err.status < 500) return mailboxesPage(ctx, { ...state, general: err.message });
    throw err;
  }
  const id = body.id as string;
  return redirect(consolePath('mailboxes', id), [
    await flashCookie(ctx.deps.oauth.cipher, { kind: 'ok', text: `Mailbox source '${id}' created.` }),
  ]);
}

export async function mailboxPage(ctx: PageContext, form?: FormState): Promise<ConsoleResponse> {
  const id = ctx.params[0]!;
  const s = await getSource(ctx.deps.mailboxes, id);
  const connectionId = text(s.options.connectionId);
  const options = FIELDS.map(
    (f) =>
      html`<dt class="mono">${f.key}</dt>
        <dd>
          ${
            f.key === 'connectionId' && connectionId
              ? html`<a href="${consolePath('connections', connectionId)}">${connectionId}</a>`
              : shown(s.options[f.key])
          }
        </dd>`,
  );
  const messages = s.messages.map((m) => {
    const [tone, label] = OUTCOME[m.outcome] ?? ['neutral', m.outcome];
    return html`<tr>
      <td>${time(m.receivedAt ?? m.at)}</td>
      <td>${m.from}</td>
      <td>${m.subject}</td>
      <td>${badge(tone, label)}</td>
      <td>
        ${m.jobId ? html`<a href="${consolePath('jobs', m.jobId)}">Job <span class="mono">${m.jobId}</span></a>` : ''}
        ${m.code ? html`<span class="mono">${m.code}</span> ` : ''}${m.reason ?? ''}
      </td>
    </tr>`;
  });
  const content = html`<p><a href="${consolePath('mailboxes')}">← Mailboxes</a></p>
    <dl class="facts">
      <dt>State</dt>
      <dd>${enabledBadge(s)}</dd>
      <dt>Last read</dt>
      <dd>${time(s.status.lastReadAt)}</dd>
      <dt>Problem</dt>
      <dd>${problemCell(s)}</dd>
      <dt>Subscription expires</dt>
      <dd>${time(s.status.subscriptionExpiresAt)}</dd>
      <dt>Changed</dt>
      <dd>${time(s.updatedAt)} by ${s.updatedBy}</dd>
    </dl>
    ${
      ctx.canWrite
        ? html`<div class="actions">
            ${actionButton(consolePath('mailboxes', id, 'delete'), 'Delete', ctx.csrf, {
              style: 'danger',
              confirm: `Delete the mailbox source '${id}'? Its mailbox is no longer read; the messages in it stay.`,
              fields: { etag: s.etag },
            })}
          </div>`
        : ''
    }
    <h2>Options</h2>
    <dl class="facts">${options}</dl>
    <h2>Latest messages</h2>
    ${dataTable('Latest messages', ['Received', 'From', 'Subject', 'Outcome', 'Job or reason'], messages, 'No message taken in yet.')}
    ${
      ctx.canWrite
        ? html`<h2 id="edit">Edit</h2>
            ${sourceForm(ctx, consolePath('mailboxes', id), form ?? { values: { id, ...optionValues(FIELDS, s.options) }, errors: {} }, {
              etag: s.etag,
              submit: 'Save',
            })}`
        : ''
    }`;
  return htmlResponse(form ? 400 : 200, layout(ctx.chrome(`Mailbox source ${id}`, 'mailboxes'), content));
}

export async function updateMailboxAction(ctx: PageContext): Promise<ConsoleResponse> {
  const id = ctx.params[0]!;
  const { body, state } = readForm(ctx.form!);
  if (!body) return mailboxPage(ctx, state);
  const etag = ctx.form!.get('etag') ?? undefined;
  try {
    await replaceSource(ctx.deps.mailboxes, ctx.caller.actor, id, { ...body, id }, etag);
  } catch (err) {
    if (err instanceof ValidationError) return mailboxPage(ctx, withProblems(state, err));
    if (isAppError(err) && err.status < 500 && err.status !== 404) return mailboxPage(ctx, { ...state, general: err.message });
    throw err;
  }
  return redirect(consolePath('mailboxes', id), [
    await flashCookie(ctx.deps.oauth.cipher, { kind: 'ok', text: `Mailbox source '${id}' saved.` }),
  ]);
}

export async function deleteMailboxAction(ctx: PageContext): Promise<ConsoleResponse> {
  const id = ctx.params[0]!;
  const etag = ctx.form!.get('etag') ?? undefined;
  try {
    await deleteSource(ctx.deps.mailboxes, ctx.caller.actor, id, etag);
  } catch (err) {
    if (!isAppError(err) || err.status >= 500) throw err;
    return redirect(consolePath('mailboxes', id), [await flashCookie(ctx.deps.oauth.cipher, { kind: 'bad', text: err.message })]);
  }
  return redirect(consolePath('mailboxes'), [
    await flashCookie(ctx.deps.oauth.cipher, { kind: 'ok', text: `Mailbox source '${id}' deleted.` }),
  ]);
}
