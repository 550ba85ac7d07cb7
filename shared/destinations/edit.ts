/**
 * Changing the stored destinations: create, replace, delete, enable or disable one destination,
 * import a whole set (the deployed file or a body) and restore an old version. Every change
 * reads the version in force, applies itself, checks the whole result with the connectors'
 * schemas (nothing invalid is saved) and writes it as the next version, guarded by the pointer's
 * ETag (shared/storage/destinationVersions.ts): a writer that lost to another one starts again
 * from what is stored now, and the caller's own If-Match is checked again against that. Each
 * change is recorded in the audit log with what it was before and after.
 */
import { audit, type Actor } from '../audit';
import { readDestinationsFile, type DestinationsDocument, type RawDestination } from '../delivery';
import { AppError, ValidationError } from '../errors';
import { CONFLICT, retryOnConflict, type DestinationsPointer, type VersionInfo } from '../storage';
import type { DestinationsSource } from './current';
import {
  changes,
  etagMatches,
  normalize,
  normalizeDocument,
  notAnObject,
  notFound,
  outline,
  sameContent,
  validateDocument,
  versionEtag,
  view,
  type DestinationView,
} from './document';

/** The version in force, with its document (an empty one while none is stored). */
export interface StoredState {
  pointer?: DestinationsPointer;
  document: DestinationsDocument;
}

/** What a change makes of the stored state. */
interface Plan {
  document: DestinationsDocument;
  info: VersionInfo;
  /** The destination created or changed, whose problems are named from within it. */
  focus?: number;
  audit: { before?: unknown; after?: unknown };
}

/** The outcome of a change: the version in force after it and whether it made one. */
export interface ChangeResult {
  version: number;
  etag: string;
  /** False: the change was already in force; no version was written. */
  changed: boolean;
}

export function refuseIfPinned(source: DestinationsSource): void {
  if (!source.deps.pinned) return;
  const f = source.file();
  throw new AppError(
    'destinations_pinned',
    `The destinations are pinned to the deployed file${f.state === 'absent' ? '' : ` ${f.name}`} (DESTINATIONS_PINNED=true): ` +
      'change it in its repository and deploy it, or set DESTINATIONS_PINNED=false to manage destinations here.',
  );
}

export async function readStored(source: DestinationsSource): Promise<StoredState> {
  const pointer = await source.pointer();
  if (!pointer) return { document: { version: 1, destinations: [] } };
  const row = await source.deps.store.get(pointer.version);
  if (!row) throw new Error(`Version ${pointer.version} of the destinations is missing.`);
  return { pointer, document: normalizeDocument(row.document) };
}

/** Applies `plan` to what is stored, as the next version; undefined from `plan`: nothing to change. */
async function commit(
  source: DestinationsSource,
  actor: Actor,
  plan: (state: StoredState) => Plan | undefined,
): Promise<ChangeResult & { state: StoredState; plan?: Plan }> {
  refuseIfPinned(source);
  const { deps } = source;
  const at = deps.now?.() ?? new Date();
  const outcome = await retryOnConflict(async () => {
    const state = await readStored(source);
    const planned = plan(state);
    const version = state.pointer?.version ?? 0;
    if (!planned) return { version, etag: versionEtag(version), changed: false, state };
    validateDocument(planned.document, deps.connectors, planned.focus);
    const written = await deps.store.append(state.pointer, {
      ...planned.info,
      document: planned.document,
      count: planned.document.destinations.length,
      actor,
      at,
    });
    if (written === CONFLICT) return CONFLICT;
    return { version: written.version, etag: versionEtag(written.version), changed: true, state, plan: planned };
  });
  if (outcome === CONFLICT) {
    throw new AppError(
      'destination_changed',
      'The destinations were changed by others while this change was being saved; read them again.',
    );
  }
  if (outcome.plan) {
    await audit({ auditLog: deps.auditLog, now: () => at }, actor, outcome.plan.info.action, outcome.plan.info.target, outcome.plan.audit);
  }
  return outcome;
}

function requireIfMatch(ifMatch: '*' | string[] | undefined, id: string): '*' | string[] {
  if (ifMatch) return ifMatch;
  throw new AppError(
    'if_match_required',
    `Send If-Match with the ETag of destination '${id}' (GET /api/destinations/${id}), or * to change it whatever it is now.`,
  );
}

function staleDestination(id: string, state: StoredState): AppError {
  const p = state.pointer!;
  const by = p.actor.kind === 'user' ? p.actor.upn : p.actor.kind === 'key' ? 'the admin key' : `ScanRelay (${p.actor.name})`;
  return new AppError(
    'destination_changed',
    `Destination '${id}' was changed since you read it: the destinations are at version ${p.version} now (last change by ${by}, ` +
      `${p.updatedAt.toISOString()}). Read it again (GET /api/destinations/${id}), make your change on that, and send its new ETag.`,
  );
}

/** The destination `id` of the stored state, checked against If-Match. */
function locate(state: StoredState, id: string, ifMatch: '*' | string[] | undefined) {
  const index = state.document.destinations.findIndex((d) => d.id === id);
  if (index < 0) throw notFound(id, state.pointer?.version);
  const current = state.document.destinations[index]!;
  if (ifMatch && !etagMatches(ifMatch, view(current).etag)) throw staleDestination(id, state);
  return { index, current };
}

const replaced = (doc: DestinationsDocument, index: number, d: RawDestination | undefined): DestinationsDocument => ({
  version: 1,
  destinations: d ? doc.destinations.map((x, i) => (i === index ? d : x)) : doc.destinations.filter((_, i) => i !== index),
});

export async function createDestination(
  source: DestinationsSource,
  actor: Actor,
  body: unknown,
): Promise<ChangeResult & { destination: DestinationView }> {
  refuseIfPinned(source); // before the body: pinned, no change is possible whatever it is
  if (!body || typeof body !== 'object' || Array.isArray(body)) throw notAnObject('The destination');
  const d = normalize(body);
  const result = await commit(source, actor, (state) => {
    if (typeof d.id === 'string' && state.document.destinations.some((x) => x.id === d.id)) {
      throw new AppError('destination_exists', `A destination '${d.id}' exists already; change it with PUT /api/destinations/${d.id}.`);
    }
    return {
      document: { version: 1, destinations: [...state.document.destinations, d] },
      focus: state.document.destinations.length,
      info: { action: 'destination.create', target: `destination:${d.id}`, summary: `Created '${d.id}'` },
      audit: { after: d },
    };
  });
  return { ...strip(result), destination: view(d) };
}

/**
 * Replaces a destination (If-Match required). `enabled` left out keeps its state (enable and
 * disable have their own operation); the id cannot change.
 */
export async function replaceDestination(
  source: DestinationsSource,
  actor: Actor,
  id: string,
  body: unknown,
  ifMatch: '*' | string[] | undefined,
): Promise<ChangeResult & { destination: DestinationView }> {
  refuseIfPinned(source);
  const match = requireIfMatch(ifMatch, id);
  if (!body || typeof body !== 'object' || Array.isArray(body)) throw notAnObject('The destination');
  const given = body as Record<string, unknown>;
  if (given.id !== undefined && given.id !== id) {
    throw new ValidationError(`"id" must be '${id}': a destination cannot be renamed (create the new one, then delete this one).`, [
      { path: 'id', message: `must be '${id}', the destination's id: a destination cannot be renamed.` },
    ]);
  }
  let next: RawDestination | undefined;
  const result = await commit(source, actor, (state) => {
    const { index, current } = locate(state, id, match);
    next = normalize({ ...given, id, enabled: given.enabled ?? current.enabled });
    if (sameContent(next, current)) return undefined;
    return {
      document: replaced(state.document, index, next),
      focus: index,
      info: { action: 'destination.update', target: `destination:${id}`, summary: `Updated '${id}'` },
      audit: { before: current, after: next },
    };
  });
  return { ...strip(result), destination: view(next!) };
}

export async function deleteDestination(
  source: DestinationsSource,
  actor: Actor,
  id: string,
  ifMatch: '*' | string[] | undefined,
): Promise<ChangeResult> {
  refuseIfPinned(source);
  const match = requireIfMatch(ifMatch, id);
  const result = await commit(source, actor, (state) => {
    const { index, current } = locate(state, id, match);
    return {
      document: replaced(state.document, index, undefined),
      info: { action: 'destination.delete', target: `destination:${id}`, summary: `Deleted '${id}'` },
      audit: { before: current },
    };
  });
  return strip(result);
}

/** Enables or disables a destination (If-Match optional); one already so is left as it is. */
export async function setDestinationEnabled(
  source: DestinationsSource,
  actor: Actor,
  id: string,
  enabled: boolean,
  ifMatch?: '*' | string[],
): Promise<ChangeResult & { destination: DestinationView }> {
  let next: RawDestination | undefined;
  const result = await commit(source, actor, (state) => {
    const { index, current } = locate(state, id, ifMatch);
    next = normalize({ ...current, enabled });
    if ((current.enabled !== false) === enabled) return undefined;
    const action = enabled ? 'enable' : 'disable';
    return {
      document: replaced(state.document, index, next),
      focus: index,
      info: { action: `destination.${action}`, target: `destination:${id}`, summary: `${enabled ? 'Enabled' : 'Disabled'} '${id}'` },
      audit: { before: { enabled: !enabled }, after: { enabled } },
    };
  });
  return { ...strip(result), destination: view(next!) };
}

function checkSetEtag(state: StoredState, ifMatch: '*' | string[] | undefined): void {
  const version = state.pointer?.version ?? 0;
  if (ifMatch && !etagMatches(ifMatch, versionEtag(version))) {
    throw new AppError(
      'destination_changed',
      `The destinations are at version ${version} now, not the one you read (If-Match); read them again (GET /api/destinations).`,
    );
  }
}

/** A whole document as the next version, unless it is the one in force already. */
function replaceAll(
  state: StoredState,
  document: DestinationsDocument,
  info: VersionInfo,
  extra: Record<string, unknown> = {},
): Plan | undefined {
  if (sameContent(document, state.document)) return undefined;
  const version = state.pointer?.version ?? 0;
  return {
    document,
    info,
    audit: {
      before: outline(version, state.document),
      after: { ...outline(version + 1, document), ...changes(state.document, document), ...extra },
    },
  };
}

/**
 * Imports a destinations document: the request's body, or without one the deployed file (read
 * now). If-Match (optional) is the set's ETag.
 */
export async function importDestinations(
  source: DestinationsSource,
  actor: Actor,
  body: unknown,
  ifMatch?: '*' | string[],
): Promise<ChangeResult & { source: string; count: number }> {
  refuseIfPinned(source);
  let raw = body;
  let from = 'the request body';
  if (body === undefined) {
    const f = readDestinationsFile(source.deps.file, source.deps.connectors);
    if (f.state === 'absent' || f.state === 'missing') {
      throw new AppError(
        'destinations_file_not_found',
        f.state === 'missing' ? f.error.message : 'There is no destinations file to import (no destinations.json, no DESTINATIONS_FILE).',
      );
    }
    if (f.state === 'invalid' && f.raw === undefined) throw new ValidationError(f.error.message, [{ path: '', message: f.error.message }]);
    raw = f.state === 'valid' ? f.document : f.raw;
    from = f.name;
  }
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) throw notAnObject('The destinations');
  const document = normalizeDocument(raw);
  validateDocument(document, source.deps.connectors);
  const result = await commit(source, actor, (state) => {
    checkSetEtag(state, ifMatch);
    return replaceAll(
      state,
      document,
      {
        action: 'destinations.import',
        target: 'destinations',
        summary: `Imported ${from} (${document.destinations.length === 1 ? '1 destination' : `${document.destinations.length} destinations`})`,
      },
      { source: from },
    );
  });
  return { ...strip(result), source: from, count: document.destinations.length };
}

/** Makes an old version's document current again, as a new version. */
export async function restoreVersion(
  source: DestinationsSource,
  actor: Actor,
  version: number,
  ifMatch?: '*' | string[],
): Promise<ChangeResult & { restoredFrom: number }> {
  refuseIfPinned(source);
  const old = await source.deps.store.get(version);
  if (!old) throw new AppError('version_not_found', `There is no version ${String(version).slice(0, 20)} of the destinations.`);
  const document = normalizeDocument(old.document);
  validateDocument(document, source.deps.connectors);
  const result = await commit(source, actor, (state) => {
    checkSetEtag(state, ifMatch);
    return replaceAll(
      state,
      document,
      { action: 'destinations.restore', target: 'destinations', summary: `Restored version ${version}`, restoredFrom: version },
      { restoredFrom: version },
    );
  });
  return { ...strip(result), restoredFrom: version };
}

const strip = ({ version, etag, changed }: ChangeResult): ChangeResult => ({ version, etag, changed });
