/**
 * The destinations document as the admin API handles it: destinations normalised to the keys
 * the file format knows, their ETags, validation as a whole with field-level problems, and a
 * change between two documents in words.
 */
import { createHash } from 'node:crypto';
import { checkDestinations, type Connector, type DestinationIssue, type DestinationsDocument, type RawDestination } from '../delivery';
import { AppError, PayloadTooLargeError, ValidationError, type FieldProblem } from '../errors';

/** The most JSON one stored version holds (an entity holds 1 MiB, two bytes a character). */
export const MAX_DOCUMENT_CHARS = 300_000;

/** A destination as the API shows it: as written, with its state and ETag. */
export type DestinationView = RawDestination & { enabled: boolean; etag: string };

/**
 * The keys the file format knows, in its order; other keys (an `etag` sent back with a PUT)
 * are dropped. `enabled` is kept only when false.
 */
export function normalize(raw: unknown): RawDestination {
  const d = (raw && typeof raw === 'object' && !Array.isArray(raw) ? raw : {}) as Record<string, unknown>;
  const out: Record<string, unknown> = { id: d.id, type: d.type };
  if (d.description !== undefined) out.description = d.description;
  if (d.enabled !== undefined && d.enabled !== true) out.enabled = d.enabled;
  out.when = d.when;
  out.options = d.options;
  if (d.notifyUser !== undefined) out.notifyUser = d.notifyUser;
  return out as unknown as RawDestination;
}

/** Each destination normalised; anything else as it is, for the check to name. */
export function normalizeDocument(raw: unknown): DestinationsDocument {
  const { version, destinations } = (raw ?? {}) as { version?: unknown; destinations?: unknown };
  return {
    version: version as 1,
    destinations: Array.isArray(destinations) ? destinations.map(normalize) : (destinations as RawDestination[]),
  };
}

/** JSON with the keys of every object sorted: the same destination always gives the same text. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== undefined);
    return `{${entries
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([k, v]) => `${JSON.stringify(k)}:${canonical(v)}`)
      .join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

export function sameContent(a: unknown, b: unknown): boolean {
  return canonical(a) === canonical(b);
}

/** A destination's ETag: from its content, so it changes exactly when the destination does. */
export function destinationEtag(d: RawDestination): string {
  return `"d${createHash('sha256')
    .update(canonical(normalize(d)))
    .digest('hex')
    .slice(0, 20)}"`;
}

/** The set's ETag: its version. */
export const versionEtag = (version: number | undefined) => `"v${version ?? 0}"`;

export function view(d: RawDestination): DestinationView {
  return { ...normalize(d), enabled: d.enabled !== false, etag: destinationEtag(d) };
}

/**
 * If-Match: undefined when absent, `*`, or the ETags it lists (a weak `W/` prefix ignored).
 * https://www.rfc-editor.org/rfc/rfc9110#name-if-match
 */
export function parseIfMatch(header: string | null | undefined): '*' | string[] | undefined {
  if (header === null || header === undefined || header.trim() === '') return undefined;
  if (header.trim() === '*') return '*';
  return header.split(',').map((t) => t.trim().replace(/^W\//, ''));
}

/** Whether If-Match names `etag`, a weak `W/` prefix ignored on either side (Table Storage's ETags are weak). */
export function etagMatches(ifMatch: '*' | string[], etag: string): boolean {
  return ifMatch === '*' || ifMatch.includes(etag.replace(/^W\//, ''));
}

/**
 * Checks the whole document with the connectors' schemas; throws a ValidationError with every
 * problem. Problems of the destination at `focus` (the one being created or changed) are named
 * from within it (`options.auth.port`), all others by their whole path.
 */
export function validateDocument(doc: DestinationsDocument, connectors: Readonly<Record<string, Connector>>, focus?: number): void {
  const checked = checkDestinations(doc, connectors);
  if (!checked.issues) {
    const size = JSON.stringify(doc).length;
    if (size > MAX_DOCUMENT_CHARS) {
      throw new PayloadTooLargeError(
        'destinations_too_large',
        `The destinations would take ${size} characters of JSON; one version holds at most ${MAX_DOCUMENT_CHARS}.`,
      );
    }
    return;
  }
  const fields = checked.issues.map((issue) => fieldProblem(issue, focus));
  const first = fields[0]!;
  const more = fields.length > 1 ? ` (and ${fields.length - 1} more problem${fields.length > 2 ? 's' : ''}: see "fields")` : '';
  const what = focus === undefined ? 'The destinations are' : 'The destination is';
  throw new ValidationError(`${what} not valid, and nothing was saved: ${first.path || 'the document'} ${first.message}${more}`, fields);
}

function fieldProblem(issue: DestinationIssue, focus: number | undefined): FieldProblem {
  const prefix = `destinations[${issue.index}]`;
  const path = focus !== undefined && issue.index === focus ? issue.path.slice(prefix.length).replace(/^\./, '') : issue.path;
  return { path, message: issue.problem.replace(/^:\s*/, '') };
}

/** A request body that is not a destination at all. */
export function notAnObject(what: string): ValidationError {
  return new ValidationError(`${what} must be a JSON object.`, [{ path: '', message: 'must be a JSON object.' }]);
}

/** What changed from one document to the next, by destination id. */
export function changes(before: DestinationsDocument | undefined, after: DestinationsDocument) {
  const old = new Map((before?.destinations ?? []).map((d) => [d.id, d]));
  const now = new Map(after.destinations.map((d) => [d.id, d]));
  return {
    added: [...now.keys()].filter((id) => !old.has(id)),
    removed: [...old.keys()].filter((id) => !now.has(id)),
    changed: [...now.keys()].filter((id) => old.has(id) && !sameContent(normalize(old.get(id)), normalize(now.get(id)))),
  };
}

/** The set in a few words, for the audit log: its version and destinations' ids. */
export function outline(version: number | undefined, doc: DestinationsDocument | undefined) {
  return { version: version ?? 0, destinations: (doc?.destinations ?? []).map((d) => d.id) };
}

/** 404 for an id the set does not have. */
export function notFound(id: string, version: number | undefined): AppError {
  return new AppError(
    'destination_not_found',
    `There is no destination '${id.slice(0, 64)}'${version ? ` in version ${version} of the destinations` : ''}; GET /api/destinations lists them.`,
  );
}
