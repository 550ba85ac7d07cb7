/**
 * Acceptance, end to end: POST /api/scan to the local host → the queue trigger runs the deliverer
 * → the smtp destination (Microsoft 365 auth) sends the message to a real smtp-server on loopback
 * (STARTTLS with the test certificate), authenticated with XOAUTH2 by an access token that the
 * test OIDC server issued to a connection authorized through the real flow; the attachments
 * arrive byte-identical, and GET /api/scan/{jobId} reports the delivery without any token.
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { simpleParser, type ParsedMail } from 'mailparser';
import { SMTPServer, type SMTPServerAuthentication } from 'smtp-server';
import { silentLogger } from '../../shared/log';
import { CONNECTION_TYPES, completeAuthorization, newKeyRingSecret, startAuthorization } from '../../shared/oauth';
import { DELIVERY_QUEUE } from '../../shared/storage';
import type { TriggerRunner } from '../../host/local/triggers';
import { httpRequest, postMultipart } from '../helpers/http';
import { multipart, pdfBytes } from '../helpers/multipart';
import { DEFAULT_USER, startOidcServer, type OidcServer } from '../helpers/oidcServer';
import { startScanHost, type ScanHost } from '../helpers/scanStack';
import { waitFor } from '../helpers/wait';

jest.setTimeout(120_000);

const TLS_DIR = join(__dirname, '..', 'fixtures', 'tls');
const CA = readFileSync(join(TLS_DIR, 'ca.pem'), 'utf8');
const CLIENT_ID = '3f1c2b7a-9d4e-4c8a-a1b2-0c9d8e7f6a5b';
const BASE = 'https://scanrelay.test';
const ADMIN_KEY = 'e2e-admin-key-0123456789abcdef';

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

// ---------------------------------------------------------------------------------------------
// An SMTP server that accepts XOAUTH2 only after STARTTLS, checking the token against the IdP.

interface Received {
  raw: Buffer;
  rcptTo: string[];
  user: unknown;
  parsed: ParsedMail;
}

let idp: OidcServer;
let host: ScanHost;
let triggers: TriggerRunner | undefined;
let smtpServer: SMTPServer | undefined;
let smtpPort = 0;
let connectionId: string;
const auths: Array<{ auth: SMTPServerAuthentication; outcome: 'accepted' | 'refused' }> = [];
const messages: Received[] = [];
/** How many of the next AUTH commands to answer with 535 whatever the token. */
let refuseNextAuths = 0;

async function startSmtp(): Promise<void> {
  const server = new SMTPServer({
    secure: false,
    key: readFileSync(join(TLS_DIR, 'server-key.pem')),
    cert: readFileSync(join(TLS_DIR, 'server.pem')),
    logger: false,
    authOptional: false,
    authMethods: ['XOAUTH2'],
    onAuth(auth, session, callback) {
      const refuse = (message: string) => {
        auths.push({ auth, outcome: 'refused' });
        callback(Object.assign(new Error(message), { responseCode: 535 }));
      };
      if (!session.secure) return refuse('5.7.0 STARTTLS first');
      if (auth.method !== 'XOAUTH2' || !auth.accessToken) return refuse('5.7.3 XOAUTH2 only');
      if (refuseNextAuths > 0) {
        refuseNextAuths--;
        return refuse('5.7.3 Authentication unsuccessful');
      }
      try {
        const { payload } = idp.verifyJwt(auth.accessToken);
        if (!(typeof payload.scp === 'string' ? payload.scp : '').split(' ').includes('SMTP.Send'))
          return refuse('5.7.3 token lacks SMTP.Send');
        if (payload.preferred_username !== undefined && payload.preferred_username !== auth.username)
          return refuse('5.7.3 token of another user');
      } catch (err) {
        return refuse(`5.7.3 ${(err as Error).message}`);
      }
      auths.push({ auth, outcome: 'accepted' });
      callback(null, { user: auth.username });
    },
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        const raw = Buffer.concat(chunks);
        simpleParser(raw).then(
          (parsed) => {
            messages.push({ raw, rcptTo: session.envelope.rcptTo.map((r) => r.address), user: session.user, parsed });
            callback();
          },
          (err: Error) => callback(err),
        );
      });
    },
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  smtpServer = server;
  smtpPort = (server.server.address() as AddressInfo).port;
}

beforeAll(async () => {
  idp = await startOidcServer({
    clients: [
      {
        clientId: CLIENT_ID,
        clientSecret: 'the-client-secret',
        redirectUris: CONNECTION_TYPES.map((t) => `${BASE}/api/oauth2/client/${t}/authorize-callback`),
      },
    ],
  });
  await startSmtp();
  const destinationsFile = join(mkdtempSync(join(tmpdir(), 'scanrelay-e2e-smtp-')), 'destinations.json');
  host = await startScanHost({
    OAUTH_AUTHORITY_HOST: idp.baseUrl,
    OAUTH_CLIENT_ID: CLIENT_ID,
    PUBLIC_BASE_URL: BASE,
    DESTINATIONS_FILE: destinationsFile,
  });
  writeFileSync(
    host.secretsFile,
    JSON.stringify({ 'oauth-client-secret': 'the-client-secret', 'token-encryption-keys': newKeyRingSecret('k1'), 'admin-key': ADMIN_KEY }),
  );

  // Authorize an smtpMicrosoft connection as the administrator would (see oauthFlow.test.ts).
  const deps = host.services.oauthDeps(silentLogger);
  connectionId = randomUUID();
  await host.services.storage.connections.create({
    id: connectionId,
    type: 'smtpMicrosoft',
    tenant: 'organizations',
    displayName: 'Scans mailbox',
  });
  const res = await fetch(await startAuthorization(deps, { kind: 'key' }, connectionId, DEFAULT_USER.upn), { redirect: 'manual' });
  const query = Object.fromEntries(new URL(res.headers.get('location')!).searchParams);
  expect(await completeAuthorization(deps, 'smtpMicrosoft', query)).toMatchObject({ ok: true });

  // Read on first delivery (the services load destinations lazily), so it can name the connection now.
  writeFileSync(
    destinationsFile,
    JSON.stringify({
      version: 1,
      destinations: [
        {
          id: 'mail',
          type: 'smtp',
          when: { workflowName: 'Scan to Email' },
          options: {
            auth: { kind: 'microsoft365', connectionId, user: DEFAULT_USER.upn, host: '127.0.0.1', port: smtpPort },
            from: `Scanner <${DEFAULT_USER.upn}>`,
            to: '%userEmail%',
            subject: '%workflowName% from %deviceName%',
            body: 'Job %scanJobID% scanned by %username% on %scanDate%.',
            tls: { ca: CA },
          },
        },
      ],
    }),
  );

  triggers = host.startDelivering();
});

afterAll(async () => {
  await triggers?.stop();
  await new Promise<void>((resolve) => (smtpServer ? smtpServer.close(() => resolve()) : resolve()));
  await host?.stop();
  await idp?.stop();
});

// ---------------------------------------------------------------------------------------------

function scan(fields: Record<string, string>) {
  const files = [
    { name: 'file1', filename: 'Überweisung – März 2026.pdf', data: pdfBytes(2.5 * 1024 * 1024), contentType: 'application/pdf' },
    {
      name: 'file2',
      filename: 'photo.jpg',
      data: Buffer.concat([Buffer.from([0xff, 0xd8, 0xff, 0xe0]), randomBytes(20 * 1024)]),
      contentType: 'image/jpeg',
    },
  ];
  return { files, body: multipart([...Object.entries(fields).map(([name, value]) => ({ name, value })), ...files]) };
}

function scanFields(): Record<string, string> {
  return {
    username: 'jdoe',
    userEmail: `john.doe+${randomBytes(3).toString('hex')}@company.example`,
    scanJobID: randomUUID(),
    workflowName: 'Scan to Email',
    deviceName: 'MFP-3rd-floor',
    scanDate: '2026-11-23',
  };
}

const messagesOf = (scanJobID: string) => messages.filter((m) => (m.parsed.text ?? '').includes(scanJobID));

const getStatus = (jobId: string) => httpRequest(`${host.server.url}/api/scan/${jobId}`, { headers: { 'x-functions-key': ADMIN_KEY } });

/** Waits until the job is delivered and its queue message is gone (so no redelivery can still come). */
async function waitDelivered(jobId: string) {
  const status = await waitFor(`job ${jobId} delivered`, async () => {
    const res = await getStatus(jobId);
    expect(res.status).toBe(200);
    return res.json.delivery.state === 'delivered' && res;
  });
  const queue = host.services.storage.clients.queue(DELIVERY_QUEUE);
  await waitFor('the delivery queue to be empty', async () => (await queue.getProperties()).approximateMessagesCount === 0);
  return status;
}

it('POST /api/scan → queue trigger → SMTP with XOAUTH2 (token from the OIDC server), attachments byte-identical, status without the token', async () => {
  const fields = scanFields();
  const { files, body } = scan(fields);
  const authsBefore = auths.length;

  const res = await postMultipart(host.scanUrl, body);
  expect(res.status).toBe(200);
  const jobId: string = res.json.jobId;
  expect(jobId).toMatch(/^[0-9a-f-]{36}$/);

  const [message] = await waitFor('the message at the SMTP server', () => {
    const got = messagesOf(fields.scanJobID!);
    return got.length > 0 && got;
  });
  const status = await waitDelivered(jobId);

  // XOAUTH2: the connection's account, a token the OIDC server signed, with SMTP.Send.
  const connection = await host.services.storage.connections.get(connectionId);
  expect(connection?.account?.upn).toBe(DEFAULT_USER.upn);
  const used = auths.slice(authsBefore);
  expect(used.map((a) => a.outcome)).toEqual(['accepted']);
  expect(used[0]!.auth).toMatchObject({ method: 'XOAUTH2', username: connection!.account!.upn });
  const token = used[0]!.auth.accessToken!;
  const { payload } = idp.verifyJwt(token);
  expect(String(payload.scp).split(' ')).toContain('SMTP.Send');
  expect(message!.user).toBe(DEFAULT_USER.upn);

  // Envelope and rendered templates.
  expect(message!.rcptTo).toEqual([fields.userEmail]);
  expect(message!.parsed.subject).toBe('Scan to Email from MFP-3rd-floor');
  expect(message!.parsed.text?.trim()).toBe(`Job ${fields.scanJobID} scanned by jdoe on 2026-11-23.`);

  // Attachments: names kept, bytes identical.
  const attachments = message!.parsed.attachments;
  expect(attachments.map((a) => a.filename)).toEqual(files.map((f) => f.filename));
  expect(attachments.map((a) => a.contentType)).toEqual(['application/pdf', 'image/jpeg']);
  expect(attachments.map((a) => sha256(a.content))).toEqual(files.map((f) => sha256(f.data)));
  expect(messagesOf(fields.scanJobID!)).toHaveLength(1);

  // The status endpoint: delivered, with the message id, and no token anywhere.
  expect(status.json).toMatchObject({
    jobId,
    scanJobId: fields.scanJobID,
    files: files.map((f) => ({ name: f.filename, size: f.data.length, sha256: sha256(f.data) })),
    delivery: {
      state: 'delivered',
      destinations: [{ destination: 'mail', status: 'delivered', attempts: 1, remoteId: message!.parsed.messageId }],
    },
  });
  expect(status.json.delivery.destinations[0].remoteId).toEqual(expect.any(String));
  expect(status.text).not.toContain(token);
  expect(status.text).not.toContain(token.split('.')[2]!);
  expect(status.text).not.toMatch(/eyJ[\w-]+\.eyJ[\w-]+/);
});

it('535 to the first AUTH: the connector gets a fresh token and the message arrives exactly once', async () => {
  const fields = scanFields();
  const { files, body } = scan(fields);
  const authsBefore = auths.length;
  const tokenRequestsBefore = idp.tokenRequests.length;
  refuseNextAuths = 1;

  const res = await postMultipart(host.scanUrl, body);
  expect(res.status).toBe(200);
  const jobId: string = res.json.jobId;

  await waitFor('the message at the SMTP server', () => messagesOf(fields.scanJobID!).length > 0);
  const status = await waitDelivered(jobId);

  const used = auths.slice(authsBefore);
  expect(used.map((a) => a.outcome)).toEqual(['refused', 'accepted']);
  const [refused, accepted] = used.map((a) => a.auth.accessToken!);
  expect(accepted).not.toBe(refused);
  expect(String(idp.verifyJwt(accepted!).payload.scp).split(' ')).toContain('SMTP.Send');
  expect(used[1]!.auth.username).toBe(DEFAULT_USER.upn);
  // The fresh token came from the OIDC server (a refresh), not from a cache.
  expect(idp.tokenRequests.slice(tokenRequestsBefore).map((r) => [r.grant_type, r.status])).toContainEqual(['refresh_token', 200]);

  const got = messagesOf(fields.scanJobID!);
  expect(got).toHaveLength(1);
  expect(got[0]!.parsed.attachments.map((a) => sha256(a.content))).toEqual(files.map((f) => sha256(f.data)));
  // Renewed inside the one attempt, not by a queue retry.
  expect(status.json.delivery.destinations).toEqual([
    expect.objectContaining({ destination: 'mail', status: 'delivered', attempts: 1, remoteId: got[0]!.parsed.messageId }),
  ]);
  for (const t of [refused!, accepted!]) expect(status.text).not.toContain(t);
});
