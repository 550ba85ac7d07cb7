/**
 * The one look into the option schemas (zod 4) of the connectors and of the mailbox sources:
 * what reads each option under its wrappers, whether it is required or has a default, and its
 * description. The option tables of docs/destinations.md and docs/mailbox-ingest.md (optionsDoc.ts)
 * and the console's destination and mailbox source forms (one control per option,
 * shared/console/optionsForm.ts) are all built from it.
 */
import { z } from 'zod';
import { CONNECTORS } from './connectors';

export interface UnwrappedOption {
  /** The schema under its wrappers (optional, default, the input side of a transform). */
  base: z.ZodType;
  /** The outermost wrapper decides: `required`, `optional`, or `default` (then `defaultValue`). */
  presence: 'required' | 'optional' | 'default';
  defaultValue?: unknown;
  description?: string;
}

/** Looks through optional, default and transforms to the schema that reads the value; the outermost description counts. */
export function unwrapOption(schema: z.ZodType): UnwrappedOption {
  let s = schema;
  let presence: UnwrappedOption['presence'] | undefined;
  let defaultValue: unknown;
  let description: string | undefined;
  for (;;) {
    description ??= s.description;
    if (s instanceof z.ZodDefault) {
      if (!presence) {
        presence = 'default';
        defaultValue = s.def.defaultValue;
      }
      s = s.unwrap() as z.ZodType;
    } else if (s instanceof z.ZodOptional) {
      presence ??= 'optional';
      s = s.unwrap() as z.ZodType;
    } else if (s instanceof z.ZodPipe) {
      s = (s.in instanceof z.ZodTransform ? s.out : s.in) as z.ZodType;
    } else break;
  }
  return { base: s, presence: presence ?? 'required', ...(presence === 'default' ? { defaultValue } : {}), description };
}

/** The top-level options of a connector, each key with its schema; throws when its options are not an object schema. */
export function optionsShape(type: string): Readonly<Record<string, z.ZodType>> {
  const connector = CONNECTORS[type];
  if (!connector) throw new Error(`The options of ${type} are not an object schema.`);
  return schemaShape(connector.optionsSchema, `The options of ${type}`);
}

/** The keys of an object schema (under its wrappers and refinements), each with its schema; throws when it is no object schema. */
export function schemaShape(schema: z.ZodType, what = 'The options'): Readonly<Record<string, z.ZodType>> {
  const top = unwrapOption(schema).base;
  if (!(top instanceof z.ZodObject)) throw new Error(`${what} are not an object schema.`);
  return top.shape;
}

/** Whether a key is a refusal rather than an option (`z.undefined()`: it must be absent). */
export const isRefusedKey = (o: UnwrappedOption) => o.base instanceof z.ZodUndefined;

/** How an option is entered: a text, a number, a flag, one of `choices`, or JSON (objects, arrays, unions). */
export type OptionKind = 'text' | 'number' | 'flag' | 'choice' | 'json';

export interface OptionField {
  key: string;
  /** Neither optional nor defaulted. */
  required: boolean;
  /** The default, in JSON, when it has one. */
  defaultJson?: string;
  /** The schema's description (Markdown). */
  description: string;
  kind: OptionKind;
  /** The values of a `choice`. */
  choices?: string[];
}

function kindOf(base: z.ZodType): Pick<OptionField, 'kind' | 'choices'> {
  if (base instanceof z.ZodString) return { kind: 'text' };
  if (base instanceof z.ZodNumber) return { kind: 'number' };
  if (base instanceof z.ZodBoolean) return { kind: 'flag' };
  if (base instanceof z.ZodEnum) return { kind: 'choice', choices: (base.options as Array<string | number>).map(String) };
  return { kind: 'json' };
}

/** The top-level options of a connector type, in the schema's order; [] for a type no connector has. */
export function optionFields(type: string): OptionField[] {
  return CONNECTORS[type] ? schemaFields(CONNECTORS[type].optionsSchema) : [];
}

/** The top-level options of an object schema (a mailbox source's, say), in the schema's order. */
export function schemaFields(schema: z.ZodType): OptionField[] {
  return Object.entries(schemaShape(schema)).flatMap(([key, option]) => {
    const o = unwrapOption(option);
    if (isRefusedKey(o)) return [];
    return [
      {
        key,
        required: o.presence === 'required',
        ...(o.presence === 'default' ? { defaultJson: JSON.stringify(o.defaultValue) } : {}),
        description: o.description ?? '',
        ...kindOf(o.base),
      },
    ];
  });
}
