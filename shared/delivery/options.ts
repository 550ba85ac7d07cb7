/**
 * Connector options as zod schemas: the field types the connectors' schemas are built from, and
 * the error a schema's first issue becomes. That error names the option by its path (`auth.port`)
 * and says what is expected, never the value given (it may be a secret); shared/delivery/
 * destinations.ts puts the destination in front (`destinations[2].options.auth.port`).
 *
 * Each field's `.meta({ description })` is its line in the tables of docs/destinations.md
 * (optionsDoc.ts), so it is written for the administrator, in Markdown.
 */
import { z } from 'zod';

/** A path segment that can follow a dot (`auth.port`); others are bracketed (`extraFields["my field"]`). */
const IDENTIFIER = /^[A-Za-z_$][A-Za-z0-9_$]*$/;

/** `base` followed by the path: `.auth.port`, `[0]`, `["my field"]`. */
export function optionPath(base: string, path: readonly PropertyKey[]): string {
  return path
    .map((key) => {
      if (typeof key === 'number') return `[${key}]`;
      const name = String(key);
      return IDENTIFIER.test(name) ? `.${name}` : `[${JSON.stringify(name)}]`;
    })
    .reduce((out, segment) => out + segment, base);
}

/** One sentence: `name must be …`, or `name: …` when the problem begins with a colon. */
export function sentence(name: string, problem: string): string {
  return problem.startsWith(':') ? `${name}${problem}` : `${name} ${problem}`;
}

/** Options a schema refused: the option's path within the options, and what is wrong with it. */
export class OptionsError extends Error {
  constructor(
    readonly path: readonly PropertyKey[],
    /** What is expected, a phrase that follows the option's name (`must be a port number (1-65535).`). */
    readonly problem: string,
  ) {
    super(path.length === 0 ? `The options ${problem}` : sentence(`"${optionPath('', path).replace(/^\./, '')}"`, problem));
    this.name = 'OptionsError';
  }
}

/** The schema's parse of a destination's options; throws an OptionsError for the first issue. */
export function parseOptions<T>(schema: z.ZodType<T>, raw: unknown): T {
  const parsed = schema.safeParse(raw);
  if (parsed.success) return parsed.data;
  throw asOptionsError(parsed.error.issues[0]!);
}

/** Every issue the schema finds in the options, each as an OptionsError (none: they are valid). */
export function optionIssues(schema: z.ZodType, raw: unknown): OptionsError[] {
  const parsed = schema.safeParse(raw);
  return parsed.success ? [] : parsed.error.issues.map(asOptionsError);
}

function asOptionsError(issue: z.core.$ZodIssue): OptionsError {
  // Every field says what it expects; zod's own wording ("Invalid input: …") only as a fallback.
  const problem = /^[a-z:(]/.test(issue.message) ? issue.message : `is not valid (${issue.message})`;
  return new OptionsError(issue.path, problem.endsWith('.') ? problem : `${problem}.`);
}

/** A string that is not blank: a name, a template. */
export const text = (error = 'must be a non-empty string') => z.string({ error }).refine((v) => v.trim() !== '', { error });

/** A template that may be empty (a mail body). */
export const anyText = () => z.string({ error: 'must be a string (a template)' });

export const flag = () => z.boolean({ error: 'must be true or false' });

/** A whole number from `min` to `max`, with one message for every way to miss it. */
export const wholeNumber = (min: number, max: number, error = `must be a whole number from ${min} to ${max}`) =>
  z.number({ error }).int({ error }).min(min, { error }).max(max, { error });

/** `connectionId`: an OAuth connection authorized by an administrator (shared/oauth). */
export const connectionId = () => text('must name an authorized connection');
