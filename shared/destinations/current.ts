/**
 * The destinations in force, for the deliverer, the health check and the admin API.
 *
 * - Stored (the default): the current version in Table Storage. Each call reads the pointer row
 *   (one point read) and parses the version's document again only when the version changed, so
 *   a job queued after a change is delivered with the new version, on every instance. The first
 *   call that finds no version stored imports the deployed file, when there is one, as version 1
 *   (actor: ScanRelay, first start); of two instances doing so at once one writes it, the other
 *   reads it.
 * - Pinned (DESTINATIONS_PINNED=true): the deployed file, read and checked once per process, as
 *   before the destinations were stored.
 *
 * The file is read once per process either way; a file that exists and is invalid is reported
 * (problems(), start-up) even when the stored version is in force: a deployment mistake.
 */
import { audit, type Actor } from '../audit';
import {
  checkDestinations,
  issueSentence,
  readDestinationsFile,
  StoredDestinationsError,
  type Connector,
  type DestinationSet,
  type DestinationsFile,
} from '../delivery';
import { ConfigError } from '../errors';
import { describeError, silentLogger, type Logger } from '../log';
import { CONFLICT, type AuditLogRepository, type DestinationsPointer, type DestinationVersionRepository } from '../storage';
import { normalizeDocument, outline } from './document';

export interface DestinationsSourceDeps {
  store: Pick<DestinationVersionRepository, 'pointer' | 'get' | 'append' | 'list'>;
  auditLog: Pick<AuditLogRepository, 'add'>;
  connectors: Readonly<Record<string, Connector>>;
  /** DESTINATIONS_FILE (undefined: destinations.json when it exists). */
  file: string | undefined;
  /** DESTINATIONS_PINNED. */
  pinned: boolean;
  now?: () => Date;
}

/** What stops delivery (or the next import), each naming the setting to fix when a setting is. */
export interface DestinationsProblem {
  setting?: string;
  message: string;
}

export interface DestinationsSource {
  readonly deps: DestinationsSourceDeps;
  /** The deployed file, read and checked once per process. */
  file(): DestinationsFile;
  /** The version in force (undefined: none stored), after the first-start import when it is due. Stored mode only. */
  pointer(log?: Logger): Promise<DestinationsPointer | undefined>;
  /** The destinations in force; throws a ConfigError or StoredDestinationsError when they cannot be used. */
  current(log?: Logger): Promise<DestinationSet>;
  /** What GET /api/health reports. */
  problems(log?: Logger): Promise<DestinationsProblem[]>;
  /** `npm start`: a line to print; throws the ConfigError that stops it (a bad file, or a missing one that is needed). */
  startUp(log?: Logger): Promise<string>;
}

export const FIRST_START: Actor = { kind: 'system', name: 'first start' };

export function createDestinationsSource(deps: DestinationsSourceDeps): DestinationsSource {
  let file: DestinationsFile | undefined;
  const readFile = () => (file ??= readDestinationsFile(deps.file, deps.connectors));
  let parsed: { version: number; set: Promise<DestinationSet> } | undefined;
  let seeding: Promise<DestinationsPointer | undefined> | undefined;

  /** Imports the deployed file as version 1 (none stored yet). */
  async function seed(log: Logger): Promise<DestinationsPointer | undefined> {
    const f = readFile();
    if (f.state === 'absent') return undefined;
    if (f.state !== 'valid') throw f.error;
    const document = normalizeDocument(f.document);
    const at = deps.now?.() ?? new Date();
    const written = await deps.store.append(undefined, {
      action: 'destinations.import',
      target: 'destinations',
      summary: `Imported ${f.name} on first start (${document.destinations.length === 1 ? '1 destination' : `${document.destinations.length} destinations`})`,
      document,
      count: document.destinations.length,
      actor: FIRST_START,
      at,
    });
    if (written === CONFLICT) return deps.store.pointer(); // another instance imported it
    await audit({ auditLog: deps.auditLog, now: () => at }, FIRST_START, 'destinations.import', 'destinations', {
      after: { ...outline(1, document), file: f.name },
    });
    log.info('destinations: imported the deployed file on first start', { file: f.name, count: document.destinations.length });
    return written;
  }

  async function pointer(log: Logger = silentLogger): Promise<DestinationsPointer | undefined> {
    const found = await deps.store.pointer();
    if (found) return found;
    seeding ??= seed(log).finally(() => (seeding = undefined));
    return seeding;
  }

  async function load(version: number): Promise<DestinationSet> {
    const row = await deps.store.get(version);
    if (!row) throw new Error(`Version ${version} of the destinations is named by the pointer row but missing.`);
    const checked = checkDestinations(row.document, deps.connectors);
    if (checked.issues) {
      throw new StoredDestinationsError(
        version,
        `The stored destinations (version ${version}) are not valid for this version of ScanRelay: ${issueSentence(checked.issues[0]!)} ` +
          'Correct that destination (PUT /api/destinations/{id}) or restore a version that is valid.',
      );
    }
    return { destinations: checked.destinations, version };
  }

  async function current(log: Logger = silentLogger): Promise<DestinationSet> {
    if (deps.pinned) {
      const f = readFile();
      if (f.state === 'absent') return { destinations: [] };
      if (f.state === 'valid') return f.set;
      throw f.error;
    }
    const p = await pointer(log);
    if (!p) return { destinations: [] };
    if (parsed?.version !== p.version) {
      const entry = { version: p.version, set: load(p.version) };
      parsed = entry;
      // A version this code refuses stays refused; a storage failure is tried again next time.
      entry.set.catch((err: unknown) => {
        if (!(err instanceof StoredDestinationsError) && parsed === entry) parsed = undefined;
      });
    }
    return parsed.set;
  }

  return {
    deps,
    file: readFile,
    pointer,
    current,
    async problems(log = silentLogger) {
      const out: DestinationsProblem[] = [];
      const f = readFile();
      if (f.state === 'invalid') out.push({ setting: 'DESTINATIONS_FILE', message: f.error.message });
      try {
        await current(log);
      } catch (err) {
        if (err instanceof ConfigError) {
          if (!out.some((p) => p.message === err.message)) out.push({ setting: err.setting, message: err.message });
        } else if (err instanceof StoredDestinationsError) {
          out.push({ message: err.message });
        } else {
          const { code, status, error } = describeError(err);
          log.error('health: the stored destinations could not be read', describeError(err));
          out.push({
            setting: 'AzureWebJobsStorage',
            message: `The stored destinations could not be read from Table Storage (${code ?? status ?? error}).`,
          });
        }
      }
      return out;
    },
    async startUp(log = silentLogger) {
      const f = readFile();
      if (f.state === 'invalid') throw f.error;
      if (deps.pinned) {
        const set = await current(log);
        return f.state === 'valid'
          ? `Destinations: ${set.destinations.length} from ${f.name}, pinned (DESTINATIONS_PINNED=true: the API does not change them)`
          : 'Destinations: none (pinned, and no destinations.json nor DESTINATIONS_FILE): jobs are stored, and marked undeliverable';
      }
      try {
        const set = await current(log);
        if (set.version === undefined) {
          return 'Destinations: none yet (no destinations.json nor DESTINATIONS_FILE to import): add them with POST /api/destinations; jobs are stored, and marked undeliverable';
        }
        return `Destinations: ${set.destinations.length} in Table Storage, version ${set.version} (managed with /api/destinations)`;
      } catch (err) {
        if (err instanceof StoredDestinationsError) return `Destinations: ${err.message} Jobs are held until then.`;
        throw err;
      }
    },
  };
}
