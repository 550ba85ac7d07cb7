/**
 * Browsing for a destination's target (shared/destinations/browse.ts) against the Graph test
 * server: a site's libraries, a library's folders level by level with the options that point a
 * destination there, a OneDrive, and what a refused token, an unknown site or library and a bad
 * request answer. Reads only.
 */
import { browseTarget, readBrowseInput, type BrowseDeps } from '../../shared/destinations';
import { AppError, ValidationError } from '../../shared/errors';
import { silentLogger } from '../../shared/log';
import { startGraphServer, type GraphServer } from '../helpers/graphServer';

const HOST = 'contoso.sharepoint.com';
const KEY = { kind: 'key' } as const;
let graph: GraphServer;
let deps: BrowseDeps;

beforeAll(async () => {
  graph = await startGraphServer({ meUpn: 'alice@contoso.com' });
  graph.addDrive('drv-alice', { ownerUpn: 'alice@contoso.com' });
  graph.addSite(HOST, 'sites/Scans', { Documents: 'drv-docs', Invoices: 'drv-invoices' }, 'Scans');
  graph.putFile('drv-invoices', '2026/December/a.pdf', 'x');
  graph.putFile('drv-invoices', '2026/November/b.pdf', 'x');
  graph.putFile('drv-invoices', 'Archive/c.pdf', 'x');
  graph.putFile('drv-invoices', 'loose.pdf', 'x');
  graph.putFile('drv-alice', 'Scans/Inbox/d.pdf', 'x');
  deps = {
    context: {
      getAccessToken: async () => 'delegated-token',
      getApplicationToken: async () => {
        throw new Error('not used');
      },
      graphBaseUrl: graph.baseUrl,
      getSecret: async () => {
        throw new Error('not used');
      },
    },
    log: silentLogger,
  };
});
afterAll(async () => {
  await graph?.stop();
});

const input = (q: Record<string, string>) => readBrowseInput((n) => q[n]);
const sharePoint = (extra: Record<string, string> = {}) =>
  input({ type: 'sharePoint', connectionId: 'conn-sp', site: `https://${HOST}/sites/Scans/`, ...extra });

it("lists a site's document libraries, then a library's folders one level at a time, with the options to use", async () => {
  await expect(browseTarget(deps, KEY, sharePoint())).resolves.toMatchObject({ siteName: 'Scans', libraries: ['Documents', 'Invoices'] });

  const root = await browseTarget(deps, KEY, sharePoint({ library: 'invoices' }));
  expect(root).toMatchObject({ library: 'Invoices', folder: '', folders: ['2026', 'Archive'] });
  expect(root.options).toEqual({ connectionId: 'conn-sp', site: `https://${HOST}/sites/Scans`, library: 'Invoices' });

  const year = await browseTarget(deps, KEY, sharePoint({ library: 'Invoices', folder: '/2026/' }));
  expect(year).toMatchObject({ folder: '2026', folders: ['December', 'November'] });
  expect(year.options).toEqual({ connectionId: 'conn-sp', site: `https://${HOST}/sites/Scans`, library: 'Invoices', folder: '2026' });
  await expect(browseTarget(deps, KEY, sharePoint({ library: 'Invoices', folder: '2026/December' }))).resolves.toMatchObject({
    folders: [],
  });
});

it("lists the folders of the connection's OneDrive", async () => {
  const r = await browseTarget(deps, KEY, input({ type: 'oneDrive', connectionId: 'conn-od', folder: 'Scans' }));
  expect(r).toMatchObject({ folders: ['Inbox'], options: { connectionId: 'conn-od', folder: 'Scans' } });
  expect(r).not.toHaveProperty('site');
});

it('says why it cannot list: a refused token, an unknown site, library or folder (browse_failed)', async () => {
  const failure = (p: Promise<unknown>) =>
    p.then(
      () => {
        throw new Error('expected a refusal');
      },
      (e: unknown) => e as AppError,
    );
  const unknownLibrary = await failure(browseTarget(deps, KEY, sharePoint({ library: 'Faxes' })));
  expect([unknownLibrary.code, unknownLibrary.message]).toEqual(['browse_failed', expect.stringContaining('it has: Documents, Invoices')]);
  const unknownSite = await failure(browseTarget(deps, KEY, sharePoint({ site: `https://${HOST}/sites/Nope` })));
  expect(unknownSite.code).toBe('browse_failed');
  const unknownFolder = await failure(browseTarget(deps, KEY, sharePoint({ library: 'Invoices', folder: 'Nope' })));
  expect(unknownFolder.code).toBe('browse_failed');

  graph.acceptToken(() => false);
  try {
    const refused = await failure(browseTarget(deps, KEY, sharePoint()));
    expect(refused.code).toBe('browse_failed');
    expect(refused.message).toContain("as connection 'conn-sp'");
  } finally {
    graph.acceptToken((t) => t.length > 0);
  }
  const noToken = await failure(
    browseTarget(
      {
        ...deps,
        context: {
          ...deps.context,
          getAccessToken: () => Promise.reject(new AppError('reauthorization_required', 'Authorize the connection again.')),
        },
      },
      KEY,
      sharePoint(),
    ),
  );
  expect([noToken.code, noToken.message]).toEqual(['browse_failed', expect.stringContaining('Authorize the connection again.')]);
});

it('refuses a bad request naming each field', () => {
  let err: unknown;
  try {
    input({ type: 'ftp', connectionId: 'Bad Id', folder: 'a/../b' });
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(ValidationError);
  expect((err as ValidationError).fields.map((f) => f.path)).toEqual(['type', 'connectionId', 'folder']);
  expect(() => input({ type: 'sharePoint', connectionId: 'c', site: 'http://contoso.sharepoint.com/sites/x' })).toThrow(/site/);
});
