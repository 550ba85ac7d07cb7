/**
 * SharePoint Online: the job's files into a folder of a site's document library, as the account
 * that authorized `connectionId` (a connection of type sharePoint, Sites.ReadWrite.All).
 *
 * - `site`: the site's URL (`https://contoso.sharepoint.com/sites/Scans`);
 * - `library`: the document library's name as shown in SharePoint (default "Documents");
 * - `folder`, `fileName`: templates (values escaped as SharePoint names);
 * - `conflictBehavior` when a file of that name exists: `replace`, `keepBoth` (default), `fail`,
 *   or `append` (PDF only: the new pages are added to the existing document; the destination's
 *   `fileName` must then be a fixed `.pdf` template, e.g. "%username% scans.pdf").
 *
 * The site and library are looked up once per process and remembered.
 */
import { parseOptions } from '../options';
import { previewFileNames, previewTemplate } from '../preview';
import { PermanentDeliveryError, type Connector } from '../types';
import { deliverToDrive, drivePace, graphFor, renderFolder, type DeliveryGraph } from '../graph';
import { sharePointOptionsSchema, type SharePointOptions } from './options';

export { sharePointOptionsSchema, type SharePointOptions } from './options';

/** (connection, site, library) → `/drives/{id}`. */
const drives = new Map<string, Promise<string>>();

export const sharePointConnector: Connector<SharePointOptions> = {
  type: 'sharePoint',
  optionsSchema: sharePointOptionsSchema,
  parseOptions: (raw) => parseOptions(sharePointOptionsSchema, raw),

  preview: (job, o) => [
    ...previewTemplate('folder', o.folder, () => renderFolder(o.folder, job.fields).join('/')),
    ...previewFileNames(job, o.fileName),
  ],

  pace: drivePace,

  async deliver(job, options, context) {
    const graph = graphFor(context, { kind: 'delegated', connectionId: options.connectionId });
    const drivePath = await libraryDrive(graph, options);
    const items = await deliverToDrive(graph, drivePath, job, options);
    return { remoteId: items.join('; ') };
  },
};

function libraryDrive(graph: DeliveryGraph, o: SharePointOptions): Promise<string> {
  const key = `${o.connectionId}|${o.site.href}|${o.library.toLowerCase()}`;
  let found = drives.get(key);
  if (!found) {
    found = lookUpLibrary(graph, o);
    found.catch(() => drives.delete(key));
    drives.set(key, found);
  }
  return found;
}

async function lookUpLibrary(graph: DeliveryGraph, o: SharePointOptions): Promise<string> {
  const sitePath = o.site.pathname.replace(/\/+$/, '');
  const site = await graph.json<{ id: string }>(`/sites/${o.site.hostname}:${sitePath || '/'}`);
  const list = await graph.json<{ value: Array<{ id: string; name: string }> }>(
    `/sites/${encodeURIComponent(site.id)}/drives?$select=id,name`,
  );
  const drive = list.value.find((d) => d.name.toLowerCase() === o.library.toLowerCase());
  if (!drive) {
    throw new PermanentDeliveryError(
      'destination_refused',
      `The site ${o.site.href} has no document library named '${o.library}' (it has: ${list.value
        .map((d) => d.name)
        .join(', ')
        .slice(0, 300)}).`,
    );
  }
  return `/drives/${encodeURIComponent(drive.id)}`;
}
