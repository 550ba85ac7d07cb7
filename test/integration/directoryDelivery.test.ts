/**
 * Delivery uses the directory: a job that carries only `username` gets the user's e-mail, names
 * and home folder from the user Entra ID provisioned over SCIM; fields the printer sent win; an
 * inactive user fills nothing.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { userFacts, withDirectoryFacts } from '../../shared/delivery/userFacts';
import { silentLogger } from '../../shared/log';
import { postMultipart } from '../helpers/http';
import { multipart, pdfBytes } from '../helpers/multipart';
import { startReceiver, type Receiver } from '../helpers/receiver';
import { startScanHost, type ScanHost } from '../helpers/scanStack';
import { ENTERPRISE, newToken, scimClient, USER_SCHEMA, type ScimClient } from '../helpers/scimClient';

const SCANRELAY = 'urn:ietf:params:scim:schemas:extension:scanrelay:2.0:User';

let receiver: Receiver;
let host: ScanHost;
let scim: ScimClient;
let stopTriggers: () => Promise<void>;

beforeAll(async () => {
  receiver = await startReceiver();
  const dir = mkdtempSync(join(tmpdir(), 'scanrelay-dest-'));
  const file = join(dir, 'destinations.json');
  writeFileSync(
    file,
    JSON.stringify({
      version: 1,
      destinations: [
        { id: 'fwd', type: 'httpForward', when: {}, options: { url: receiver.url, allowHttp: true, allowPrivateNetworks: true } },
      ],
    }),
  );
  host = await startScanHost({ DESTINATIONS_FILE: file });
  const token = newToken();
  await host.services.secrets.set('scim-bearer-token', token);
  scim = scimClient(host.server.url, token);
  const triggers = host.startDelivering();
  stopTriggers = () => triggers.stop();
});
afterAll(async () => {
  await stopTriggers?.();
  await host?.stop();
  await receiver?.stop();
});

async function provision(userName: string, extra: Record<string, unknown> = {}): Promise<string> {
  const res = await scim.post('/Users', {
    schemas: [USER_SCHEMA, ENTERPRISE, SCANRELAY],
    userName,
    active: true,
    displayName: 'Ada Lovelace',
    name: { givenName: 'Ada', familyName: 'Lovelace' },
    emails: [
      { type: 'home', value: 'ada@home.example' },
      { type: 'work', primary: true, value: 'ada.lovelace@contoso.com' },
    ],
    [SCANRELAY]: { homeDirectory: 'staff/ada' },
    ...extra,
  });
  expect(res.status).toBe(201);
  return res.json.id as string;
}

async function scanAndReceive(fields: Record<string, string>) {
  const key = randomUUID();
  const before = receiver.received.length;
  const res = await postMultipart(
    host.scanUrl,
    multipart([
      ...Object.entries({ ...fields, scanJobID: key }).map(([name, value]) => ({ name, value })),
      { name: 'file1', filename: 'a.pdf', data: pdfBytes(1024) },
    ]),
  );
  expect(res.status).toBe(200);
  await receiver.waitFor(before + 1);
  const got = receiver.received.find((r) => r.fields.scanJobID === key);
  expect(got).toBeDefined();
  return got!.fields;
}

it('fills userEmail, userFirstName, userSurname and userHome from the provisioned user (UPN in any case)', async () => {
  const upn = `ada-${randomUUID().slice(0, 8)}@contoso.com`;
  await provision(upn);
  const fields = await scanAndReceive({ username: upn.toUpperCase() });
  expect(fields).toMatchObject({
    userEmail: 'ada.lovelace@contoso.com',
    userFirstName: 'Ada',
    userSurname: 'Lovelace',
    userHome: 'staff/ada',
  });
});

it('keeps what the printer sent and fills only the rest', async () => {
  const upn = `ada-${randomUUID().slice(0, 8)}@contoso.com`;
  await provision(upn);
  const fields = await scanAndReceive({ username: upn, userEmail: 'typed.at.printer@contoso.com' });
  expect(fields.userEmail).toBe('typed.at.printer@contoso.com');
  expect(fields.userFirstName).toBe('Ada');
});

it('fills nothing for an inactive user or an unknown one', async () => {
  const upn = `ada-${randomUUID().slice(0, 8)}@contoso.com`;
  await provision(upn, { active: false });
  expect((await scanAndReceive({ username: upn })).userEmail).toBeUndefined();
  expect((await scanAndReceive({ username: `nobody-${randomUUID()}@contoso.com` })).userEmail).toBeUndefined();
});

describe('withDirectoryFacts', () => {
  it('does not look the user up when the job already has every field', async () => {
    let calls = 0;
    const fields = {
      username: 'a@b',
      userEmail: 'x',
      userFirstName: 'x',
      userSurname: 'x',
      userHome: 'x',
      userDisplayName: 'x',
      userDepartment: 'x',
    };
    const out = await withDirectoryFacts(
      fields,
      async () => {
        calls++;
        return undefined;
      },
      silentLogger,
    );
    expect(out).toBe(fields);
    expect(calls).toBe(0);
  });

  it('prefers the primary work e-mail', () => {
    const base = { id: '1', userName: 'u', active: true, source: 'scim' as const, created: new Date(), lastModified: new Date(), etag: '' };
    const facts = userFacts({
      ...base,
      resource: {
        emails: [
          { type: 'work', value: 'second@x' },
          { type: 'other', primary: true, value: 'other@x' },
          { type: 'work', primary: true, value: 'first@x' },
        ],
      },
    });
    expect(facts.userEmail).toBe('first@x');
    expect(userFacts({ ...base, resource: { emails: [{ type: 'home', value: 'home@x' }] } }).userEmail).toBe('home@x');
    expect(userFacts({ ...base, resource: {} })).toEqual({});
  });
});
