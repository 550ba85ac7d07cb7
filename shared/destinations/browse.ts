/**
 * Browsing a SharePoint site or a OneDrive to pick a destination's target, as the connection's
 * account sees it (the read side of `Sites.ReadWrite.All` / `Files.ReadWrite`): a site's document
 * libraries, then the folders of a library (or of the account's OneDrive), one level at a time.
 * Each answer carries the options that point a destination there (`connectionId`, `site`,
 * `library`, `folder`). Reads only; nothing is created or changed.
 */
import type { Actor } from '../audit';
import { graphFor, type DeliveryContext } from '../delivery';
import { AppError, ValidationError, type FieldProblem } from '../errors';
import type { Logger } from '../log';

export interface BrowseDeps {
  context: Omit<DeliveryContext, 'log'>;
  log: Logger;
}

export interface BrowseInput {
  type: 'sharePoint' | 'oneDrive';
  connectionId: string;
  /** SharePoint: the site's URL. */
  site?: string;
  /** SharePoint: the document library's name (without it: the site's libraries are listed). */
  library?: string;
  /** The folder below the root, `/`-separated ('' the root). */
  folder: string;
}

export interface BrowseResult extends BrowseInput {
  /** SharePoint: the site as Graph names it. */
  siteName?: string;
  /** SharePoint without a library: the site's document libraries. */
  libraries?: string[];
  /** The folders in `folder` (by name), at most MAX_FOLDERS. */
  folders?: string[];
  /** More folders than were listed. */
  truncated?: boolean;
  /** The options that point a destination at `folder` (with a library chosen). */
  options?: Record<string, string>;
}

const MAX_FOLDERS = 500;

/** `type`, `connectionId`, `site`, `library`, `folder` of a query; each problem by its name. */
export function readBrowseInput(get: (name: string) => string | null | undefined): BrowseInput {
  const problems: FieldProblem[] = [];
  const type = get('type') ?? '';
  if (type !== 'sharePoint' && type !== 'oneDrive') problems.push({ path: 'type', message: 'must be sharePoint or oneDrive.' });
  const connectionId = (get('connectionId') ?? '').trim();
  if (!/^[a-z0-9][a-z0-9-]{0,62}$/.test(connectionId))
    problems.push({ path: 'connectionId', message: 'must name a connection (lowercase letters, digits and dashes).' });
  const site = (get('site') ?? '').trim() || undefined;
  if (type === 'sharePoint') {
    let url: URL | undefined;
    try {
      url = site ? new URL(site) : undefined;
    } catch {
      url = undefined;
    }
    if (!url || url.protocol !== 'https:' || url.search || url.hash || url.username)
      problems.push({ path: 'site', message: "must be the site's https:// URL, e.g. https://contoso.sharepoint.com/sites/Scans." });
  }
  const library = (get('library') ?? '').trim() || undefined;
  const folder = (get('folder') ?? '')
    .split('/')
    .map((s) => s.trim())
    .filter(Boolean);
  if (folder.some((s) => s === '.' || s === '..' || s.length > 255 || /[\u0000-\u001f]/.test(s)))
    problems.push({ path: 'folder', message: 'must be folder names separated by /, without . or ..' });
  if (problems.length) throw new ValidationError(`The browse request is not valid: ${problems[0]!.path} ${problems[0]!.message}`, problems);
  return {
    type: type as BrowseInput['type'],
    connectionId,
    ...(type === 'sharePoint' ? { site: site!.replace(/\/+$/, '') } : {}),
    ...(type === 'sharePoint' && library ? { library } : {}),
    folder: folder.join('/'),
  };
}

const encodePath = (path: string) => path.split('/').map(encodeURIComponent).join('/');

/**
 * One level of a SharePoint site or a OneDrive, as the connection's account sees it.
 * @param _actor who asks (a read: not audited)
 */
export async function browseTarget(deps: BrowseDeps, _actor: Actor, input: BrowseInput): Promise<BrowseResult> {
  const graph = graphFor({ ...deps.context, log: deps.log }, { kind: 'delegated', connectionId: input.connectionId });
  try {
    let drive = '/me/drive';
    const result: BrowseResult = { ...input };
    if (input.type === 'sharePoint') {
      const url = new URL(input.site!);
      const site = await graph.json<{ id: string; displayName?: string }>(
        `/sites/${url.hostname}:${url.pathname.replace(/\/+$/, '') || '/'}`,
      );
      result.siteName = site.displayName;
      const list = await graph.json<{ value: Array<{ id: string; name: string }> }>(
        `/sites/${encodeURIComponent(site.id)}/drives?$select=id,name`,
      );
      if (!input.library) return { ...result, libraries: list.value.map((d) => d.name).sort((a, b) => a.localeCompare(b)) };
      const found = list.value.find((d) => d.name.toLowerCase() === input.library!.toLowerCase());
      if (!found) {
        throw new AppError(
          'browse_failed',
          `The site ${input.site} has no document library named '${input.library}' (it has: ${list.value.map((d) => d.name).join(', ')}).`,
        );
      }
      result.library = found.name;
      drive = `/drives/${encodeURIComponent(found.id)}`;
    }
    const folders: string[] = [];
    let next: string | undefined =
      `${drive}/${input.folder ? `root:/${encodePath(input.folder)}:` : 'root'}/children?$select=name,folder&$top=200`;
    while (next && folders.length < MAX_FOLDERS) {
      const page: { value: Array<{ name: string; folder?: unknown }>; '@odata.nextLink'?: string } = await graph.json(next);
      folders.push(...page.value.filter((i) => i.folder).map((i) => i.name));
      next = page['@odata.nextLink'];
    }
    result.folders = folders.slice(0, MAX_FOLDERS).sort((a, b) => a.localeCompare(b));
    if (next || folders.length > MAX_FOLDERS) result.truncated = true;
    result.options = {
      connectionId: input.connectionId,
      ...(input.type === 'sharePoint' ? { site: input.site!, library: result.library! } : {}),
      ...(input.folder ? { folder: input.folder } : {}),
    };
    return result;
  } catch (err) {
    if (err instanceof AppError) throw err;
    const reason = err instanceof Error ? err.message : String(err);
    throw new AppError('browse_failed', `Microsoft Graph did not list it, as connection '${input.connectionId}': ${reason}`);
  }
}
