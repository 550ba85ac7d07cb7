/**
 * Destinations and routing: the administrator's set of destinations, a JSON document
 *
 *   { "version": 1, "destinations": [
 *       { "id": "fax", "type": "smtp", "when": { "workflowName": "Scan to Fax" }, "options": { ... } },
 *       { "id": "archive", "type": "httpForward", "enabled": false, "when": { "custom_RoutingKey": ["archive", "all"] }, "options": { ... } } ] }
 *
 * stored in Table Storage (shared/destinations) or, pinned, the file deployed with the app
 * (DESTINATIONS_FILE; without it destinations.json when there is one). Either way it is checked
 * here, as a whole, with each connector's option schema; every problem names its path
 * (`destinations[2].options.auth.port must be a port number (1-65535).`).
 *
 * `when` selects jobs: every listed field must match (a string: equal, ignoring case; a list:
 * any of them; `{ "matches": "<regex>" }`: the regular expression). `{}` selects every job. A
 * destination with `"enabled": false` selects none.
 */
import { readFileSync } from 'node:fs';
import { ConfigError } from '../errors';
import { optionIssues, optionPath, OptionsError, sentence } from './options';
import type { Connector } from './types';

type Matcher = { equals: string[] } | { matches: RegExp };

export interface Destination {
  id: string;
  type: string;
  /** False: kept, but its rule selects no job. */
  enabled: boolean;
  when: Readonly<Record<string, Matcher>>;
  options: unknown;
  connector: Connector;
  /** An e-mail notification channel that tells the scanning user when this destination fails their scan for good. */
  notifyUser?: string;
}

/** A destination as the administrator writes it (the file, the API). */
export interface RawDestination {
  id: string;
  type: string;
  description?: string;
  enabled?: boolean;
  when: Record<string, unknown>;
  options: unknown;
  notifyUser?: string;
}

/** The document: the file's format (`version` is the format's, always 1). */
export interface DestinationsDocument {
  version: 1;
  destinations: RawDestination[];
}

/** One problem of a document: where (`destinations[2].options.auth.port`, or '' for the whole) and what is expected. */
export interface DestinationIssue {
  path: string;
  /** The destination it is in, by its position (none: the document itself). */
  index?: number;
  /** A phrase that follows the path's name (`must be …`), or begins with a colon. */
  problem: string;
}

const ID = /^[a-z0-9][a-z0-9-]{0,62}$/;
/** A notification channel's id (shared/notifications/channel.ts). */
const CHANNEL_ID = /^[a-z0-9][a-z0-9-]{0,39}$/;
/** Ids that are paths of the admin API (/api/destinations/versions, /api/destinations/import). */
const RESERVED_IDS = new Set(['versions', 'import', 'browse']);

/** The sentence an issue becomes: `destinations[2].options.auth.port must be …`. */
export function issueSentence(issue: DestinationIssue): string {
  return sentence(issue.path || 'the file', issue.problem);
}

/**
 * Checks a whole document: every problem of every destination (for each, what can be checked:
 * nothing after a bad type), or the destinations parsed.
 */
export function checkDestinations(
  raw: unknown,
  connectors: Readonly<Record<string, Connector>>,
): { destinations: Destination[]; issues?: undefined } | { issues: DestinationIssue[] } {
  if (!raw || typeof raw !== 'object' || (raw as { version?: unknown }).version !== 1) {
    return { issues: [{ path: '', problem: 'must be an object with "version": 1 and "destinations": [...].' }] };
  }
  const list = (raw as { destinations?: unknown }).destinations;
  if (!Array.isArray(list)) return { issues: [{ path: 'destinations', problem: 'must be a list.' }] };
  const issues: DestinationIssue[] = [];
  const seen = new Set<string>();
  const destinations = list.map((d: unknown, index) => {
    const where = `destinations[${index}]`;
    const bad = (path: string, problem: string) => issues.push({ path: `${where}${path}`, index, problem });
    if (!d || typeof d !== 'object' || Array.isArray(d)) return void bad('', 'must be an object.');
    const { id, type, when, options, enabled, description, notifyUser } = d as Record<string, unknown>;
    if (typeof id !== 'string' || !ID.test(id)) bad('.id', 'must be 1 to 63 lowercase letters, digits and dashes.');
    else if (seen.has(id)) bad('.id', `: '${id}' is used twice.`);
    else if (RESERVED_IDS.has(id)) bad('.id', `: '${id}' is reserved (it is a path of the admin API, /api/destinations/${id}).`);
    if (typeof id === 'string') seen.add(id);
    let connector: Connector | undefined;
    if (typeof type !== 'string' || !Object.hasOwn(connectors, type))
      bad('.type', `must be one of: ${Object.keys(connectors).join(', ')}.`);
    else connector = connectors[type]!;
    const parsedOptions = connector && checkOptions(connector, options ?? {}, `${where}.options`, index, issues);
    const parsedWhen = parseWhen(when, `${where}.when`, (path, problem) => issues.push({ path, index, problem }));
    if (enabled !== undefined && typeof enabled !== 'boolean') bad('.enabled', 'must be true or false.');
    if (description !== undefined && (typeof description !== 'string' || description.length > 500))
      bad('.description', 'must be a text of at most 500 characters.');
    if (notifyUser !== undefined && (typeof notifyUser !== 'string' || !CHANNEL_ID.test(notifyUser)))
      bad('.notifyUser', 'must be the id of an e-mail notification channel (lowercase letters, digits and dashes).');
    if (!connector || !parsedWhen || !parsedOptions) return undefined;
    return {
      id: id as string,
      type: type as string,
      enabled: enabled !== false,
      when: parsedWhen,
      options: parsedOptions.value,
      connector,
      ...(typeof notifyUser === 'string' ? { notifyUser } : {}),
    };
  });
  return issues.length ? { issues } : { destinations: destinations as Destination[] };
}

/** The options parsed by the connector, or undefined after adding every issue its schema finds. */
function checkOptions(connector: Connector, options: unknown, where: string, index: number, issues: DestinationIssue[]) {
  const found = optionIssues(connector.optionsSchema, options);
  if (found.length === 0) {
    try {
      return { value: connector.parseOptions(options) };
    } catch (err) {
      found.push(err instanceof OptionsError ? err : new OptionsError([], `: ${(err as Error).message}`));
    }
  }
  for (const e of found) issues.push({ path: optionPath(where, e.path), index, problem: e.problem });
  return undefined;
}

/** Reads a document; throws a ConfigError naming `setting` and its first problem. */
export function parseDestinations(
  raw: unknown,
  connectors: Readonly<Record<string, Connector>>,
  setting = 'DESTINATIONS_FILE',
): Destination[] {
  const checked = checkDestinations(raw, connectors);
  if (checked.issues) throw new ConfigError(setting, issueSentence(checked.issues[0]!));
  return checked.destinations;
}

function parseWhen(when: unknown, where: string, bad: (path: string, problem: string) => void): Record<string, Matcher> | undefined {
  if (!when || typeof when !== 'object' || Array.isArray(when)) {
    bad(where, 'must be an object of field → value(s); {} selects every job.');
    return undefined;
  }
  const out: Record<string, Matcher> = {};
  let ok = true;
  for (const [field, rule] of Object.entries(when as Record<string, unknown>)) {
    if (typeof rule === 'string') out[field] = { equals: [rule.toLowerCase()] };
    else if (Array.isArray(rule) && rule.every((r) => typeof r === 'string'))
      out[field] = { equals: rule.map((r: string) => r.toLowerCase()) };
    else if (rule && typeof rule === 'object' && typeof (rule as { matches?: unknown }).matches === 'string') {
      try {
        out[field] = { matches: new RegExp((rule as { matches: string }).matches) };
      } catch {
        ok = false;
        bad(optionPath(where, [field]), 'is not a valid regular expression.');
      }
    } else {
      ok = false;
      bad(optionPath(where, [field]), 'must be a string, a list of strings, or { "matches": "<regex>" }.');
    }
  }
  return ok ? out : undefined;
}

/**
 * The destinations in force and where they come from: the stored version (shared/destinations),
 * or the file (pinned); neither: no destinations are configured.
 */
export interface DestinationSet {
  destinations: readonly Destination[];
  /** The file they were read from (pinned, or a test's set). */
  file?: string;
  /** The stored version they are. */
  version?: number;
}

/** The file used when DESTINATIONS_FILE is not set, if it exists. */
export const DEFAULT_DESTINATIONS_FILE = 'destinations.json';

/** The deployed file: none, named but missing, unusable (unreadable, not JSON, invalid), or valid. */
export type DestinationsFile =
  | { state: 'absent' }
  | { state: 'missing' | 'invalid'; name: string; error: ConfigError; /** The JSON, when it is JSON (invalid). */ raw?: unknown }
  | { state: 'valid'; name: string; document: DestinationsDocument; set: DestinationSet };

/**
 * Reads and checks the file. A file named by DESTINATIONS_FILE must exist; without the setting,
 * destinations.json is read when there is one.
 */
export function readDestinationsFile(file: string | undefined, connectors: Readonly<Record<string, Connector>>): DestinationsFile {
  const name = file ?? DEFAULT_DESTINATIONS_FILE;
  const refused = (state: 'missing' | 'invalid', message: string, raw?: unknown) =>
    ({ state, name, error: new ConfigError('DESTINATIONS_FILE', message), raw }) as const;
  let text: string;
  try {
    text = readFileSync(name, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'ENOENT') return refused('invalid', `${file} cannot be read (${code}).`);
    if (file === undefined) return { state: 'absent' };
    return refused('missing', `${file} does not exist; deploy it with the app (see destinations.example.json).`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return refused('invalid', `${name} is not valid JSON.`);
  }
  const checked = checkDestinations(raw, connectors);
  if (checked.issues) return refused('invalid', issueSentence(checked.issues[0]!), raw);
  return { state: 'valid', name, document: raw as DestinationsDocument, set: { destinations: checked.destinations, file: name } };
}

/** Reads and checks the file (see readDestinationsFile); throws a ConfigError naming the setting and what is wrong. */
export function loadDestinations(file: string | undefined, connectors: Readonly<Record<string, Connector>>): DestinationSet {
  const read = readDestinationsFile(file, connectors);
  if (read.state === 'absent') return { destinations: [] };
  if (read.state === 'valid') return read.set;
  throw read.error;
}

/** A stored version of the destinations that this version of ScanRelay refuses (a connector's options became stricter). */
export class StoredDestinationsError extends Error {
  constructor(
    readonly version: number,
    message: string,
  ) {
    super(message);
    this.name = 'StoredDestinationsError';
  }
}

/** The destinations cannot be used: jobs are held (`blocked`), not failed. */
export function isDestinationsProblem(err: unknown): err is ConfigError | StoredDestinationsError {
  return err instanceof ConfigError || err instanceof StoredDestinationsError;
}

/** How each field of a destination's rule compares with a job's fields. */
export function explainRule(
  fields: Readonly<Record<string, string>>,
  d: Pick<Destination, 'when'>,
): Array<{ field: string; matched: boolean; value?: string }> {
  return Object.entries(d.when).map(([field, m]) => {
    const value = Object.hasOwn(fields, field) ? fields[field]! : undefined;
    const matched = value !== undefined && ('equals' in m ? m.equals.includes(value.toLowerCase()) : m.matches.test(value));
    return { field, matched, ...(value === undefined ? {} : { value }) };
  });
}

/** The enabled destinations whose rule selects the job. */
export function route(fields: Readonly<Record<string, string>>, destinations: readonly Destination[]): Destination[] {
  return destinations.filter((d) => d.enabled && explainRule(fields, d).every((r) => r.matched));
}
