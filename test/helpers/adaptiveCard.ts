/**
 * Checks a Microsoft Teams Adaptive Card against the official Adaptive Card JSON schema of the
 * version the card declares (`"version": "1.4"`), with Ajv, the JSON Schema validator. The schemas
 * are kept verbatim in test/fixtures/adaptiveCards (see its README for where they came from).
 *
 * Whether a card is valid is Ajv's answer alone. What this file adds is the wording of the
 * problems: the schema lists an element as "any of ActionSet, ColumnSet, … TextBlock", so a
 * TextBlock without `text` fails every one of those, and Ajv reports each. Where a card's object
 * says which one it is (its `type`), the problems given are those of that one definition, checked
 * again on its own with the same schema.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import Ajv, { type ErrorObject, type ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';
import draft06 from 'ajv/dist/refs/json-schema-draft-06.json';

/** The card versions there is a schema for, and its file in test/fixtures/adaptiveCards. */
const SCHEMA_FILES = {
  '1.4': 'adaptive-card-1.4.json',
  '1.5': 'adaptive-card-1.5.json',
} as const;

type KnownVersion = keyof typeof SCHEMA_FILES;

const KNOWN_VERSIONS = Object.keys(SCHEMA_FILES) as KnownVersion[];

interface LoadedSchema {
  key: string;
  definitions: Record<string, unknown>;
  validate: ValidateFunction;
}

let ajv: Ajv | undefined;
const loaded = new Map<KnownVersion, LoadedSchema>();
const definitionValidators = new Map<string, ValidateFunction>();

function validator(): Ajv {
  if (ajv) return ajv;
  ajv = new Ajv({
    // Every problem of a card, not only the first; with the schema part that failed (`verbose`),
    // which the wording below reads.
    allErrors: true,
    verbose: true,
    // The official schema has `pattern`s with no `"type": "string"` beside them (Colors: an enum or
    // a case-insensitive pattern), which strictTypes would reject. They are valid JSON Schema and
    // validate as written. Strict mode stays on otherwise: unknown keywords are an error unless
    // declared below. (strictRequired stays at its default, off: each `ImplementationsOf.*` branch
    // requires `type` beside an `allOf` `$ref` that defines it.)
    strictTypes: false,
    strictTuples: true,
  });
  // `"format": "uri"` and `"uri-reference"` are checked, not ignored.
  addFormats(ajv);
  // The schemas declare draft-06.
  ajv.addMetaSchema(draft06);
  // `id` is draft-04's name for `$id`; in a draft-06 schema it is an unknown keyword, which JSON
  // Schema ignores (Ajv 8 would throw on it). Both schemas have the same one, so it would clash anyway.
  ajv.removeKeyword('id');
  // Annotations of the Adaptive Card schema (the card version a property came in, a feature
  // number, an example), with no effect on validation.
  for (const keyword of ['id', 'version', 'features', 'example']) ajv.addKeyword(keyword);
  return ajv;
}

function schemaFor(version: KnownVersion): LoadedSchema {
  const cached = loaded.get(version);
  if (cached) return cached;
  const file = join(__dirname, '..', 'fixtures', 'adaptiveCards', SCHEMA_FILES[version]);
  const schema = JSON.parse(readFileSync(file, 'utf8')) as { definitions: Record<string, unknown> };
  const key = `adaptive-card-${version}`;
  const instance = validator();
  instance.addSchema(schema, key);
  const validate = instance.getSchema(key);
  if (!validate) throw new Error(`The Adaptive Card ${version} schema did not compile`);
  const result = { key, definitions: schema.definitions, validate };
  loaded.set(version, result);
  return result;
}

function definitionValidator(schema: LoadedSchema, name: string): ValidateFunction {
  const ref = `${schema.key}#/definitions/${name}`;
  let validate = definitionValidators.get(ref);
  if (!validate) {
    validate = validator().getSchema(ref);
    if (!validate) throw new Error(`No definition ${name} in the Adaptive Card schema ${schema.key}`);
    definitionValidators.set(ref, validate);
  }
  return validate;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * The `type`s an `anyOf` chooses between, with the definition of each, when it is one of the
 * schema's `ImplementationsOf.*` lists: every branch `{ "required": ["type"], "allOf": [{ "$ref":
 * "#/definitions/TextBlock" }] }`, the definition having `"type": { "enum": ["TextBlock"] }`.
 * Undefined for any other `anyOf`.
 */
function typedBranches(schema: LoadedSchema, anyOf: unknown): Map<string, string> | undefined {
  if (!Array.isArray(anyOf) || anyOf.length === 0) return undefined;
  const types = new Map<string, string>();
  for (const branch of anyOf) {
    if (!isRecord(branch) || !Array.isArray(branch.required) || !branch.required.includes('type')) return undefined;
    const allOf = branch.allOf;
    if (!Array.isArray(allOf) || allOf.length !== 1 || !isRecord(allOf[0])) return undefined;
    const ref = allOf[0].$ref;
    if (typeof ref !== 'string' || !ref.startsWith('#/definitions/')) return undefined;
    const name = ref.slice('#/definitions/'.length);
    const definition = schema.definitions[name];
    const properties = isRecord(definition) ? definition.properties : undefined;
    const type = isRecord(properties) ? properties.type : undefined;
    const names = isRecord(type) ? type.enum : undefined;
    if (!Array.isArray(names) || names.length === 0) return undefined;
    for (const typeName of names) {
      if (typeof typeName !== 'string') return undefined;
      types.set(typeName, name);
    }
  }
  return types;
}

function isAtOrUnder(path: string, parent: string): boolean {
  return path === parent || path.startsWith(`${parent}/`);
}

function describe(error: ErrorObject): string {
  const params = error.params as Record<string, unknown>;
  if (error.keyword === 'additionalProperties') return `must NOT have additional property '${String(params.additionalProperty)}'`;
  if (error.keyword === 'enum' && Array.isArray(params.allowedValues)) {
    return `must be equal to one of the allowed values (${params.allowedValues.map(String).join(', ')})`;
  }
  return error.message ?? error.keyword;
}

function problem(path: string, message: string): string {
  return `${path === '' ? '(root)' : path}: ${message}`;
}

/** Ajv's errors for `data` against `validate`, worded as problems whose paths start with `base`. */
function explain(schema: LoadedSchema, version: KnownVersion, validate: ValidateFunction, data: unknown, base: string): string[] {
  if (validate(data)) return [];
  const errors = validate.errors ?? [];
  const problems: string[] = [];
  const used = new Set<ErrorObject>();
  // Alternatives at one path (`"color"`: one of the Colors or null), each worded, joined with "or".
  const alternatives = new Map<string, string[]>();
  const addAlternative = (path: string, message: string) => alternatives.set(path, [...(alternatives.get(path) ?? []), message]);

  // An element, action or inline that is none of the types it may be: say which type it is, and
  // what is wrong with it as that type (or that its type is unknown here).
  const typed = errors.filter((e) => e.keyword === 'anyOf' && typedBranches(schema, e.schema));
  const outermost = typed.filter(
    (e, i) =>
      typed.findIndex((other) => other.instancePath === e.instancePath) === i &&
      !typed.some((other) => other.instancePath !== e.instancePath && isAtOrUnder(e.instancePath, other.instancePath)),
  );
  for (const choice of outermost) {
    const at = choice.instancePath;
    const types = typedBranches(schema, choice.schema) ?? new Map<string, string>();
    const allowed = [...types.keys()].join(', ');
    const value = choice.data;
    if (!isRecord(value)) {
      // Not an object at all: each type's "must be object" is this one alternative (the schema
      // may allow something else here, as `"fallback": "drop"`).
      for (const e of errors) if (e === choice || (e.instancePath === at && e.keyword === 'type')) used.add(e);
      addAlternative(at, `must be an object with a "type" (one of ${allowed})`);
      continue;
    }
    for (const e of errors) if (isAtOrUnder(e.instancePath, at)) used.add(e);
    const definition = typeof value.type === 'string' ? types.get(value.type) : undefined;
    if (value.type === undefined) {
      problems.push(problem(base + at, `must have required property 'type' (one of ${allowed})`));
    } else if (definition === undefined) {
      problems.push(
        problem(`${base + at}/type`, `unknown type ${JSON.stringify(value.type)}; Adaptive Card ${version} allows here ${allowed}`),
      );
    } else {
      const found = explain(schema, version, definitionValidator(schema, definition), value, base + at);
      problems.push(...(found.length > 0 ? found : [problem(base + at, describe(choice))]));
    }
  }

  // Where an `anyOf` of several failed, what each of its branches asked for at that path.
  for (const choice of errors) {
    if (used.has(choice) || choice.keyword !== 'anyOf' || !Array.isArray(choice.schema) || choice.schema.length < 2) continue;
    const at = choice.instancePath;
    const branches = errors.filter(
      (e) => !used.has(e) && e.instancePath === at && e.keyword !== 'anyOf' && e.schemaPath.includes('/anyOf/'),
    );
    if (branches.length === 0 && !alternatives.has(at)) continue;
    for (const e of branches) addAlternative(at, describe(e));
    for (const e of [choice, ...branches]) used.add(e);
  }
  for (const [at, messages] of alternatives) problems.push(problem(base + at, [...new Set(messages)].join(' or ')));

  // The rest as Ajv says it. An `anyOf` of one branch (the schema's root) says no more than it.
  for (const e of errors) {
    if (used.has(e) || (e.keyword === 'anyOf' && Array.isArray(e.schema) && e.schema.length === 1)) continue;
    problems.push(problem(base + e.instancePath, describe(e)));
  }
  return problems;
}

/**
 * The problems of `card` as an Adaptive Card of the version it declares, checked against that
 * version's official schema: empty when it is valid. Each is `instancePath: message`, such as
 * `/body/0: must have required property 'text'`. A card whose `version` has no schema here is a
 * problem itself, naming the versions there are.
 */
export function adaptiveCardProblems(card: unknown): string[] {
  if (!isRecord(card)) return [problem('', 'must be an object (an Adaptive Card)')];
  const known = KNOWN_VERSIONS.join(', ');
  if (card.version === undefined) return [problem('/version', `missing: an Adaptive Card must say its version (known here: ${known})`)];
  const version = KNOWN_VERSIONS.find((v) => v === card.version);
  if (version === undefined)
    return [problem('/version', `unknown Adaptive Card version ${JSON.stringify(card.version)} (known here: ${known})`)];
  const schema = schemaFor(version);
  const problems = [...new Set(explain(schema, version, schema.validate, card, ''))];
  // The wording can only drop Ajv's own errors for better ones; should it find none, Ajv's stand.
  if (problems.length === 0 && !schema.validate(card)) {
    return (schema.validate.errors ?? []).map((e) => problem(e.instancePath, describe(e)));
  }
  return problems;
}
