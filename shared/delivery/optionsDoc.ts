/**
 * Renders the option tables of docs/destinations.md from the connectors' schemas (`npm run docs`),
 * and the table of any other object schema (a mailbox source's, docs/mailbox-ingest.md).
 * Each table stands between its two marker comments; the prose and examples around them are
 * written by hand and kept as they are. A row per option, by its path (`auth.port`, as errors
 * name it), with its default and its schema's description; an option without one is an error.
 */
import { z } from 'zod';
import { CONNECTORS } from './connectors';
import { isRefusedKey, optionsShape, schemaShape, unwrapOption, type UnwrappedOption } from './optionFields';

const cell = (text: string) => text.replace(/\|/g, '\\|').replace(/\r?\n/g, ' ');

const start = (type: string) =>
  `<!-- options of ${type}: generated from its schema (shared/delivery/${type}/options.ts) by \`npm run docs\`; a test fails when it is stale. -->`;
const end = (type: string) => `<!-- end of the options of ${type} -->`;

/** `required`, `optional`, or the default in JSON, as the Default column shows it. */
function given(o: UnwrappedOption): string {
  return o.presence === 'default' ? `\`${JSON.stringify(o.defaultValue)}\`` : o.presence;
}

function rows(shape: Readonly<Record<string, z.ZodType>>, prefix: string, where: string, discriminator?: string): string[] {
  const out: string[] = [];
  for (const [key, schema] of Object.entries(shape)) {
    const f = unwrapOption(schema);
    // A key that must be absent (z.undefined) is a refusal, not an option.
    if (key === discriminator || isRefusedKey(f)) continue;
    const name = `${prefix}${key}`;
    if (!f.description) throw new Error(`The option ${name} of ${where} has no description (.meta({ description })).`);
    out.push(`| \`${name}\` | ${given(f)} | ${cell(f.description)} |`);
    if (f.base instanceof z.ZodObject) out.push(...rows(f.base.shape, `${name}.`, where));
    if (f.base instanceof z.ZodDiscriminatedUnion) {
      const by = f.base.def.discriminator;
      for (const option of f.base.options as z.ZodType[]) {
        const o = unwrapOption(option);
        if (!(o.base instanceof z.ZodObject)) throw new Error(`An option of ${name} of ${where} is not an object.`);
        const shape = o.base.shape as Record<string, z.ZodType>;
        const value = (shape[by] as z.ZodLiteral).value;
        if (!o.description) throw new Error(`The ${by} ${String(value)} of ${name} of ${where} has no description.`);
        out.push(`| \`${name}\` with \`"${by}": ${JSON.stringify(value)}\` | | ${cell(o.description)} |`);
        out.push(...rows(shape, `${name}.`, where, by));
      }
    }
  }
  return out;
}

/** The option table of one connector. */
export function renderOptionsTable(type: string): string {
  return ['| Option | Default | Meaning |', '|---|---|---|', ...rows(optionsShape(type), '', type)].join('\n');
}

/** The option table of an object schema; `where` names it in the error about an option without a description. */
export function renderSchemaTable(schema: z.ZodType, where: string): string {
  return ['| Option | Default | Meaning |', '|---|---|---|', ...rows(schemaShape(schema), '', where)].join('\n');
}

/** docs/destinations.md with every connector's table rendered between its markers (each must be there once). */
export function renderOptionTables(doc: string): string {
  let out = doc;
  for (const type of Object.keys(CONNECTORS)) {
    const [from, to] = [start(type), end(type)];
    const a = out.indexOf(from);
    const b = out.indexOf(to);
    if (a < 0 || b < a || out.indexOf(from, a + 1) >= 0)
      throw new Error(`docs/destinations.md must hold the options of ${type} once, between\n${from}\nand\n${to}`);
    out = `${out.slice(0, a + from.length)}\n\n${renderOptionsTable(type)}\n\n${out.slice(b)}`;
  }
  return out;
}
