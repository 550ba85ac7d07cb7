/**
 * The first run on a developer's machine (`npm start`, local secret store): with nothing stored
 * and no destinations file to import, one destination is created so that the README's first scan
 * is delivered somewhere to look at: a file-share destination writing every job's files into a
 * local folder (by default `.azurite/delivered/`, under the git-ignored Azurite data). It is an
 * ordinary stored destination (version 1, by ScanRelay's first start, audited): change or delete
 * it like any other; once any version is stored it is never offered again.
 */
import { mkdir } from 'node:fs/promises';
import type { Logger } from '../log';
import { FIRST_START, type DestinationsSource } from './current';
import { createDestination } from './edit';

export const LOCAL_DESTINATION_ID = 'local-folder';

/** Creates the local destination when it is due; what was created, or undefined. */
export async function createLocalDestination(
  source: DestinationsSource,
  folder: string,
  log?: Logger,
): Promise<{ id: string; folder: string; version: number } | undefined> {
  if (source.deps.pinned || source.file().state !== 'absent') return undefined;
  if (await source.pointer(log)) return undefined;
  await mkdir(folder, { recursive: true });
  const created = await createDestination(source, FIRST_START, {
    id: LOCAL_DESTINATION_ID,
    type: 'fileShare',
    description: 'Made by npm start on first start: every scan into a folder of this machine. Change it, or delete it.',
    when: {},
    options: { basePath: folder },
  });
  return { id: LOCAL_DESTINATION_ID, folder, version: created.version };
}
