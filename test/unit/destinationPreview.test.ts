/**
 * Test routing's side of the connectors: every template of a destination rendered for a job as
 * its delivery renders it, a failure (a missing variable, an address that is not one) reported
 * for that template and not thrown; and the routing rules explained field by field, a disabled
 * destination selecting nothing.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkDestinations, CONNECTORS, explainRule, parseDestinations, route, type DeliveryJob } from '../../shared/delivery';

const job = (fields: Record<string, string>, names = ['scan.pdf']): DeliveryJob => ({
  jobId: 'j',
  receivedAt: new Date(),
  fields,
  files: names.map((name) => ({ name, contentType: 'application/pdf', size: 1, sha256: '', open: () => Promise.reject(new Error('no')) })),
});

function preview(type: string, options: unknown, fields: Record<string, string>, names?: string[]) {
  const connector = CONNECTORS[type]!;
  return connector.preview!(job(fields, names), connector.parseOptions(options));
}

const missing = (variable: string) => ({ code: 'missing_variable', message: expect.stringContaining(`needs %${variable}%`) });

it('every connector has a preview', () => {
  expect(Object.values(CONNECTORS).filter((c) => !c.preview)).toEqual([]);
});

it('smtp: the sender, recipients, subject and body, a missing variable reported for its template only', () => {
  const out = preview(
    'smtp',
    {
      auth: { kind: 'system', host: 'mail.contoso.com', port: 25 },
      from: 'Scans <scans@contoso.com>',
      to: '%faxNumber%@fax.example.net, archive@contoso.com',
      cc: '%userEmail%',
      subject: 'Scan from %deviceName%',
      body: 'By %username%',
    },
    { faxNumber: '+3212345', deviceName: 'MFP-1\r\nBcc: evil@example.com', username: 'jdoe' },
  );
  expect(out).toEqual([
    { option: 'from', template: 'Scans <scans@contoso.com>', rendered: 'Scans <scans@contoso.com>' },
    {
      option: 'to',
      template: '%faxNumber%@fax.example.net, archive@contoso.com',
      rendered: '+3212345@fax.example.net, archive@contoso.com',
    },
    { option: 'cc', template: '%userEmail%', error: missing('userEmail') },
    // The header escaping of delivery: a line break in a value cannot add a header.
    { option: 'subject', template: 'Scan from %deviceName%', rendered: 'Scan from MFP-1 Bcc: evil@example.com' },
    { option: 'body', template: 'By %username%', rendered: 'By jdoe' },
  ]);
});

it('an address template that renders to more than one address is reported as delivery would fail it', () => {
  const out = preview(
    'graphMail',
    { connectionId: 'c', to: '%faxNumber%@fax.example.net', subject: 's', body: '<b>%username%</b>', bodyType: 'html' },
    { faxNumber: '1, boss@contoso.com', username: '<script>' },
  );
  expect(out).toEqual([
    {
      option: 'to',
      template: '%faxNumber%@fax.example.net',
      error: { code: 'invalid_address', message: expect.stringMatching(/not one e-mail address/) },
    },
    { option: 'subject', template: 's', rendered: 's' },
    { option: 'body', template: '<b>%username%</b>', rendered: '<b>&lt;script&gt;</b>' },
  ]);
});

it('graphMail with "auth": "application": the sender first, as delivery renders and checks it; delegated shows none', () => {
  const options = { auth: 'application', to: 'archive@contoso.com', subject: 'Scan' };
  expect(preview('graphMail', options, { userEmail: 'ada@contoso.com' })).toEqual([
    { option: 'from', template: '%userEmail%', rendered: 'ada@contoso.com' },
    { option: 'to', template: 'archive@contoso.com', rendered: 'archive@contoso.com' },
    { option: 'subject', template: 'Scan', rendered: 'Scan' },
    { option: 'body', template: '', rendered: '' },
  ]);
  expect(preview('graphMail', { ...options, from: 'scans-%deviceName%@contoso.com' }, { deviceName: 'MFP1' })[0]).toEqual({
    option: 'from',
    template: 'scans-%deviceName%@contoso.com',
    rendered: 'scans-MFP1@contoso.com',
  });
  expect(preview('graphMail', options, {})[0]).toEqual({
    option: 'from',
    template: '%userEmail%',
    error: { code: 'missing_variable', message: expect.stringMatching(/needs %userEmail%.*no mailbox to send from/) },
  });
  expect(preview('graphMail', options, { userEmail: '../../users/ceo@contoso.com' })[0]).toMatchObject({
    option: 'from',
    error: { code: 'invalid_address' },
  });
  const delegated = preview(
    'graphMail',
    { connectionId: 'c', to: 'archive@contoso.com', subject: 'Scan' },
    { userEmail: 'ada@contoso.com' },
  );
  expect(delegated.map((p) => p.option)).toEqual(['to', 'subject', 'body']);
});

it('oneDrive: the user (application), the folder and a name per file', () => {
  const out = preview(
    'oneDrive',
    { auth: 'application', folder: 'Scans/%deviceName%', fileName: '%scanDate% %fileIndex%%fileExtension%' },
    { userEmail: 'ada@contoso.com', deviceName: 'MFP/1', scanDate: '2026-12-01' },
    ['a.pdf', 'b.pdf'],
  );
  expect(out).toEqual([
    { option: 'user', template: '%userEmail%', rendered: 'ada@contoso.com' },
    { option: 'folder', template: 'Scans/%deviceName%', rendered: 'Scans/MFP_1' },
    { option: 'fileName', template: '%scanDate% %fileIndex%%fileExtension%', file: 1, rendered: '2026-12-01 1.pdf' },
    { option: 'fileName', template: '%scanDate% %fileIndex%%fileExtension%', file: 2, rendered: '2026-12-01 2.pdf' },
  ]);
});

it('sharePoint: a file name template that needs a missing variable is one error, not one per file', () => {
  const out = preview(
    'sharePoint',
    { connectionId: 'c', site: 'https://contoso.sharepoint.com/sites/Scans', fileName: '%username%.pdf' },
    {},
    ['a.pdf', 'b.pdf'],
  );
  expect(out).toEqual([
    { option: 'folder', template: '', rendered: '' },
    { option: 'fileName', template: '%username%.pdf', error: missing('username') },
  ]);
});

it('httpForward: each extra field by its path', () => {
  const out = preview(
    'httpForward',
    { url: 'https://fax.example.net/api', extraFields: { to: '%faxNumber%', 'from user': '%userEmail%' } },
    { faxNumber: '123' },
  );
  expect(out).toEqual([
    { option: 'extraFields.to', template: '%faxNumber%', rendered: '123' },
    { option: 'extraFields["from user"]', template: '%userEmail%', error: missing('userEmail') },
  ]);
});

it('fileShare: the folder under the root with %userHome%, and the SMB names of the files', () => {
  const root = mkdtempSync(join(tmpdir(), 'scanrelay-preview-'));
  const options = { basePath: `${root}/%userHome%/Scans`, folder: '%scanDate%', fileName: '%deviceName%.pdf' };
  expect(preview('fileShare', options, { userHome: '\\\\fs01\\home\\ada', scanDate: '2026-12-01', deviceName: 'CON' })).toEqual([
    { option: 'basePath', template: `${root}/%userHome%/Scans`, rendered: join(root, 'fs01', 'home', 'ada', 'Scans') },
    { option: 'folder', template: '%scanDate%', rendered: join(root, 'fs01', 'home', 'ada', 'Scans', '2026-12-01') },
    { option: 'fileName', template: '%deviceName%.pdf', file: 1, rendered: 'CON_.pdf' },
  ]);
  expect(preview('fileShare', options, { scanDate: '2026-12-01', deviceName: 'x' }).map((p) => [p.option, p.error?.code])).toEqual([
    ['basePath', 'missing_variable'],
    ['folder', 'missing_variable'],
    ['fileName', undefined],
  ]);
});

describe('rules', () => {
  const http = { type: 'httpForward', options: { url: 'https://fax.example.net/api' } };
  const [fax, off] = parseDestinations(
    {
      version: 1,
      destinations: [
        { ...http, id: 'fax', when: { workflowName: 'Scan to Fax', faxNumber: { matches: '^\\+?[0-9]{6,20}$' } } },
        { ...http, id: 'off', enabled: false, when: {} },
      ],
    },
    CONNECTORS,
  );

  it('are explained field by field', () => {
    expect(explainRule({ workflowName: 'scan to fax', faxNumber: 'abc' }, fax!)).toEqual([
      { field: 'workflowName', matched: true, value: 'scan to fax' },
      { field: 'faxNumber', matched: false, value: 'abc' },
    ]);
    expect(explainRule({}, fax!)).toEqual([
      { field: 'workflowName', matched: false },
      { field: 'faxNumber', matched: false },
    ]);
  });

  it('a disabled destination selects no job, whatever its rule', () => {
    expect(off).toMatchObject({ enabled: false });
    expect(route({ workflowName: 'Scan to Fax', faxNumber: '+3212345678' }, [fax!, off!]).map((d) => d.id)).toEqual(['fax']);
  });

  it('a check of a whole document reports every problem, the first as parseDestinations throws it', () => {
    const raw = {
      version: 1,
      destinations: [
        { ...http, id: 'a', type: 'nope', when: 'all' },
        { ...http, id: 'a', when: {} },
      ],
    };
    const checked = checkDestinations(raw, CONNECTORS);
    expect(checked.issues?.map((i) => [i.path, i.index])).toEqual([
      ['destinations[0].type', 0],
      ['destinations[0].when', 0],
      ['destinations[1].id', 1],
    ]);
    expect(() => parseDestinations(raw, CONNECTORS)).toThrow(
      /^Configuration setting DESTINATIONS_FILE: destinations\[0\]\.type must be one of/,
    );
  });
});
