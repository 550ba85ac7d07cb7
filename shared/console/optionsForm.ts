/**
 * Options as form controls, one per top-level option, generated from their schema (shared/delivery
 * optionFields): a destination's of its type (its connector's schema), or a mailbox source's (the
 * fields of its schema, `schemaFields`). A text, a number, a Default/Yes/No select for a flag, a
 * select for a choice, and a small JSON textarea for an object, a list or a union. Each control is
 * named `opt.<key>`; an empty one leaves the option out (so its default applies), and what cannot
 * be read as its kind is sent as typed, for the validator to name.
 */
import { optionFields, type OptionField } from '../delivery';
import { html, type SafeHtml } from './html';
import { field, selectInput, textInput } from './layout';

export const OPTION_PREFIX = 'opt.';
/** Whose options: a destination type (its connector's), or the fields of a schema. */
export type OptionsOf = string | readonly OptionField[];
const fieldsOf = (of: OptionsOf) => (typeof of === 'string' ? optionFields(of) : of);
const NUMBER = /^-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?$/;

/** The posted `opt.*` controls of `type` as options; a JSON control that does not parse is an error by its control's name. */
export function readOptions(
  type: OptionsOf,
  form: URLSearchParams,
): { options: Record<string, unknown>; values: Record<string, string>; errors: Record<string, string> } {
  const options: Record<string, unknown> = {};
  const values: Record<string, string> = {};
  const errors: Record<string, string> = {};
  for (const f of fieldsOf(type)) {
    const name = OPTION_PREFIX + f.key;
    const raw = form.get(name) ?? '';
    values[name] = raw;
    const text = raw.trim();
    if (!text) continue;
    if (f.kind === 'number') options[f.key] = NUMBER.test(text) ? Number(text) : raw;
    else if (f.kind === 'flag') options[f.key] = text === 'true' ? true : text === 'false' ? false : raw;
    else if (f.kind === 'json') {
      try {
        options[f.key] = JSON.parse(text) as unknown;
      } catch (err) {
        errors[name] = `Not valid JSON: ${(err as Error).message}`;
      }
    } else options[f.key] = raw;
  }
  return { options, values, errors };
}

/** Stored options as the controls' values (an option not given: empty). */
export function optionValues(type: OptionsOf, options: Record<string, unknown> | undefined): Record<string, string> {
  const values: Record<string, string> = {};
  for (const f of fieldsOf(type)) {
    const v = options?.[f.key];
    values[OPTION_PREFIX + f.key] =
      v === undefined
        ? ''
        : typeof v === 'string'
          ? v
          : f.kind === 'json' || typeof v === 'object'
            ? JSON.stringify(v, null, 2)
            : `${v as number | boolean}`;
  }
  return values;
}

/** The keys of stored options that are no option of `type` (the form cannot show them; a save leaves them out). */
export function unknownOptions(type: OptionsOf, options: Record<string, unknown> | undefined): string[] {
  const known = new Set(fieldsOf(type).map((f) => f.key));
  return Object.keys(options ?? {}).filter((k) => !known.has(k));
}

/**
 * A problem's path within the destination (`options.auth.port`) → the control it belongs to
 * (`opt.auth`) and the text shown there (`auth.port: …` below the top level); undefined when it
 * is no option of `type`. `under`: where the options are in the paths (`options` in a
 * destination's; '' when they are the top level, as a mailbox source's `allowedSenders.0`).
 */
export function optionProblem(
  type: OptionsOf,
  path: string,
  message: string,
  under = 'options',
): { name: string; text: string } | undefined {
  const rest = under ? (path.startsWith(`${under}.`) ? path.slice(under.length + 1) : undefined) : path;
  const m = rest === undefined ? null : /^([A-Za-z_$][A-Za-z0-9_$]*)(.*)$/.exec(rest);
  if (!m || !fieldsOf(type).some((f) => f.key === m[1])) return undefined;
  return { name: OPTION_PREFIX + m[1], text: m[2] ? `${m[1]}${m[2]}: ${message}` : message };
}

/** Markdown of a description as plain text: `*emphasis*`, `code` and [links](#x) as their text (a `*` in code kept: "`*` for anyone"). */
export function plainText(markdown: string): string {
  return markdown
    .replace(/\[([^\]]*)\]\([^)]*\)/g, '$1')
    .split(/(`[^`]*`)/)
    .map((part, i) => (i % 2 ? part.slice(1, -1) : part.replace(/[*`]/g, '')))
    .join('')
    .replace(/:$/, '.');
}

const yesNo = (json: string | undefined) => (json === 'true' ? 'Yes' : json === 'false' ? 'No' : json);

function defaultText(f: OptionField): string {
  const v = JSON.parse(f.defaultJson!) as unknown;
  if (v === '') return 'empty';
  if (typeof v === 'string') return v;
  return f.kind === 'flag' ? yesNo(f.defaultJson)! : f.defaultJson!;
}

export function optionHint(f: OptionField): string {
  const given = f.required ? 'Required.' : f.defaultJson !== undefined ? `Default: ${defaultText(f)}.` : '';
  return [plainText(f.description), given].filter(Boolean).join(' ');
}

/** The empty entry of a select: the default, or nothing set. */
function emptyEntry(f: OptionField): [string, string] {
  if (f.defaultJson !== undefined) return ['', `Default (${f.kind === 'flag' ? yesNo(f.defaultJson) : defaultText(f)})`];
  return ['', f.required ? 'Choose one' : 'Not set'];
}

function control(f: OptionField, value: string): (attrs: SafeHtml) => SafeHtml {
  switch (f.kind) {
    case 'number':
      // A text input: a number input would send nothing for what is not a number, and the validator could not say why.
      return textInput(value, 'text', html`inputmode="numeric" autocomplete="off"`);
    case 'flag':
      return selectInput([emptyEntry(f), ['true', 'Yes'], ['false', 'No']], value);
    case 'choice': {
      const choices = (f.choices ?? []).map((c): [string, string] => [c, c]);
      // A value typed elsewhere (an old version, the API) that is no choice stays selectable, for the validator to name.
      if (value && !f.choices?.includes(value)) choices.push([value, value]);
      return selectInput([emptyEntry(f), ...choices], value);
    }
    case 'json':
      return (attrs) => html`<textarea ${attrs} rows="4" spellcheck="false">${value}</textarea>`;
    default:
      return textInput(value, 'text', html`spellcheck="false" autocomplete="off"`);
  }
}

/** One labelled control per option of `type`, each with its hint and its error. */
export function optionControls(type: OptionsOf, values: Record<string, string>, errors: Record<string, string | undefined>): SafeHtml[] {
  return fieldsOf(type).map((f) => {
    const name = OPTION_PREFIX + f.key;
    return field(name, f.kind === 'json' ? `${f.key} (JSON)` : f.key, control(f, values[name] ?? ''), {
      hint: optionHint(f),
      error: errors[name],
    });
  });
}
