/**
 * Reading the destinations for the admin API: the set in force with each destination's ETag,
 * one destination, the versions and one version's document. Pinned, the set is the deployed
 * file's; the stored versions stay readable.
 */
import type { Actor } from '../audit';
import type { DestinationsDocument } from '../delivery';
import { AppError } from '../errors';
import type { DestinationsVersion } from '../storage';
import type { DestinationsSource } from './current';
import { notFound, versionEtag, view, type DestinationView } from './document';
import { readStored } from './edit';

export interface DestinationsView {
  /** Where they come from: `storage` (versioned, changed through the API) or `file` (pinned). */
  source: 'storage' | 'file';
  pinned: boolean;
  /** The deployed file: pinned, the one in force; otherwise the one imported on first start or by POST /api/destinations/import. */
  file?: string;
  /** The version in force (0: none stored yet). Stored only. */
  version?: number;
  /** The set's ETag (`"v<version>"`), for If-Match on an import or a restore. Stored only. */
  etag?: string;
  updatedAt?: Date;
  updatedBy?: Actor;
  destinations: DestinationView[];
}

/** The destinations document of the pinned file; 503 when it cannot be used. */
function pinnedDocument(source: DestinationsSource): { name?: string; document: DestinationsDocument } {
  const f = source.file();
  if (f.state === 'absent') return { document: { version: 1, destinations: [] } };
  if (f.state === 'valid') return { name: f.name, document: f.document };
  throw new AppError('destinations_invalid', `The pinned destinations file cannot be used: ${f.error.message}`);
}

/**
 * The destinations in force.
 * @param _actor who asks (reads are not audited; the console's Reader role may read)
 */
export async function listDestinations(source: DestinationsSource, _actor: Actor): Promise<DestinationsView> {
  const f = source.file();
  const file = f.state === 'absent' ? undefined : f.name;
  if (source.deps.pinned) {
    const { document } = pinnedDocument(source);
    return { source: 'file', pinned: true, file, destinations: document.destinations.map(view) };
  }
  const { pointer, document } = await readStored(source);
  return {
    source: 'storage',
    pinned: false,
    file,
    version: pointer?.version ?? 0,
    etag: versionEtag(pointer?.version),
    ...(pointer ? { updatedAt: pointer.updatedAt, updatedBy: pointer.actor } : {}),
    destinations: document.destinations.map(view),
  };
}

export async function getDestination(
  source: DestinationsSource,
  actor: Actor,
  id: string,
): Promise<{ version?: number; destination: DestinationView }> {
  const all = await listDestinations(source, actor);
  const destination = all.destinations.find((d) => d.id === id);
  if (!destination) throw notFound(id, all.version);
  return { version: all.version, destination };
}

/** The stored versions, newest first: `limit` (1-200, default 50) older than `before`. */
export async function listVersions(
  source: DestinationsSource,
  _actor: Actor,
  options: { before?: number; limit?: number } = {},
): Promise<{ pinned: boolean; current: number; versions: DestinationsVersion[]; next?: number }> {
  const limit = Math.min(200, Math.max(1, options.limit ?? 50));
  const pointer = source.deps.pinned ? await source.deps.store.pointer() : await source.pointer();
  const versions = await source.deps.store.list({ before: options.before, limit });
  const last = versions.at(-1);
  return {
    pinned: source.deps.pinned,
    current: pointer?.version ?? 0,
    versions,
    ...(versions.length === limit && last && last.version > 1 ? { next: last.version } : {}),
  };
}

/** One stored version with its document (a destinations file, as it was). */
export async function getVersion(source: DestinationsSource, _actor: Actor, version: number): Promise<DestinationsVersion> {
  const found = await source.deps.store.get(version);
  if (!found) throw new AppError('version_not_found', `There is no version ${String(version).slice(0, 20)} of the destinations.`);
  return found;
}
