/**
 * Destinations and routing, defined by the administrator in a versioned JSON file deployed with
 * the app (DESTINATIONS_FILE; without it destinations.json when there is one), validated at
 * start-up:
 *
 *   { "version": 1, "destinations": [
 *       { "id": "fax", "type": "smtp", "when": { "workflowName": "Scan to Fax" }, "options": { ... } },
 *       { "id": "archive", "type": "httpForward", "when": { "custom_RoutingKey": ["archive", "all"] }, "options": { ... } } ] }
 *
 * `when` selects jobs: every listed field must match (a string: equal, ignoring case; a list:
 * any of them; `{ "matches": "<regex>" }`: the regular expression). `{}` selects every job.
 */
import { readFileSync } from 'node:fs';
import { ConfigError } from '../errors';
import { optionPath, OptionsError, sentence } from './options';
import type { Connector } from './types';

type Matcher = { equals: string[] } | { matches: RegExp };

export interface Destination {
  id: string;
  type: string;
  when: Readonly<Record<string, Matcher>>;
  options: unknown;
  connector: Connector;
}

const ID = /^[a-z0-9][a-z0-9-]{0,62}$/;

export function parseDestinations(
  raw: unknown,
  connectors: Readonly<Record<string, Connector>>,
  setting = 'DESTINATIONS_FILE',
): Destination[] {
  // One sentence naming where and what is expected: `destinations[2].options.auth.port must be …`.
  const bad = (where: string, message: string) => new ConfigError(setting, sentence(where, message));
  if (!raw || typeof raw !== 'object' || (raw as { version?: unknown }).version !== 1) {
    throw bad('the file', 'must be an object with "version": 1 and "destinations": [...].');
  }
  const list = (raw as { destinations?: unknown }).destinations;
  if (!Array.isArray(list)) throw bad('destinations', 'must be a list.');
  const seen = new Set<string>();
  return list.map((d: unknown, i) => {
    const where = `destinations[${i}]`;
    if (!d || typeof d !== 'object') throw bad(where, 'must be an object.');
    const { id, type, when, options } = d as Record<string, unknown>;
    if (typeof id !== 'string' || !ID.test(id)) throw bad(`${where}.id`, 'must be 1 to 63 lowercase letters, digits and dashes.');
    if (seen.has(id)) throw bad(`${where}.id`, `: '${id}' is used twice.`);
    seen.add(id);
    if (typeof type !== 'string' || !Object.hasOwn(connectors, type)) {
      throw bad(`${where}.type`, `must be one of: ${Object.keys(connectors).join(', ')}.`);
    }
    const connector = connectors[type]!;
    let parsedOptions: unknown;
    try {
      parsedOptions = connector.parseOptions(options ?? {});
    } catch (err) {
      if (err instanceof OptionsError) throw bad(optionPath(`${where}.options`, err.path), err.problem);
      throw bad(`${where}.options`, `: ${(err as Error).message}`);
    }
    return { id, type, when: parseWhen(when, `${where}.when`, bad), options: parsedOptions, connector };
  });
}

function parseWhen(when: unknown, where: string, bad: (w: string, m: string) => Error): Record<string, Matcher> {
  if (!when || typeof when !== 'object' || Array.isArray(when))
    throw bad(where, 'must be an object of field → value(s); {} selects every job.');
  const out: Record<string, Matcher> = {};
  for (const [field, rule] of Object.entries(when as Record<string, unknown>)) {
    if (typeof rule === 'string') out[field] = { equals: [rule.toLowerCase()] };
    else if (Array.isArray(rule) && rule.every((r) => typeof r === 'string'))
      out[field] = { equals: rule.map((r: string) => r.toLowerCase()) };
    else if (rule && typeof rule === 'object' && typeof (rule as { matches?: unknown }).matches === 'string') {
      try {
        out[field] = { matches: new RegExp((rule as { matches: string }).matches) };
      } catch {
        throw bad(optionPath(where, [field]), 'is not a valid regular expression.');
      }
    } else throw bad(optionPath(where, [field]), 'must be a string, a list of strings, or { "matches": "<regex>" }.');
  }
  return out;
}

/** The destinations in force, and the file they came from (none: no destinations are configured). */
export interface DestinationSet {
  destinations: readonly Destination[];
  file?: string;
}

/** The file used when DESTINATIONS_FILE is not set, if it exists. */
export const DEFAULT_DESTINATIONS_FILE = 'destinations.json';

/**
 * Reads and validates the destinations. A file named by DESTINATIONS_FILE must exist; without
 * the setting, destinations.json is read when there is one, and otherwise there are none.
 * Throws a ConfigError naming the setting and what is wrong.
 */
export function loadDestinations(file: string | undefined, connectors: Readonly<Record<string, Connector>>): DestinationSet {
  let text: string;
  try {
    text = readFileSync(file ?? DEFAULT_DESTINATIONS_FILE, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT')
      throw new ConfigError('DESTINATIONS_FILE', `${file} cannot be read (${(err as NodeJS.ErrnoException).code}).`);
    if (file === undefined) return { destinations: [] };
    throw new ConfigError('DESTINATIONS_FILE', `${file} does not exist; deploy it with the app (see destinations.example.json).`);
  }
  const name = file ?? DEFAULT_DESTINATIONS_FILE;
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw new ConfigError('DESTINATIONS_FILE', `${name} is not valid JSON.`);
  }
  return { destinations: parseDestinations(raw, connectors), file: name };
}

/** The destinations whose rule selects the job. */
export function route(fields: Readonly<Record<string, string>>, destinations: readonly Destination[]): Destination[] {
  return destinations.filter((d) =>
    Object.entries(d.when).every(([field, m]) => {
      const value = Object.hasOwn(fields, field) ? fields[field]! : undefined;
      if (value === undefined) return false;
      return 'equals' in m ? m.equals.includes(value.toLowerCase()) : m.matches.test(value);
    }),
  );
}
