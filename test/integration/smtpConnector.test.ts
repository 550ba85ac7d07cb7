/**
 * The SMTP connector against a real smtp-server on loopback (STARTTLS with the test certificate):
 * AUTH PLAIN with a secret-store password, Microsoft 365 XOAUTH2 with access tokens issued by the
 * local Entra-style OIDC server to an authorized connection (renewed once when refused), streamed
 * attachments compared by SHA-256 after parsing, header injection, the size limit, and how SMTP
 * and network failures are classified.
 */
import { memoryFile as inMemory, testContext } from '../helpers/deliveryFiles';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { simpleParser } from 'mailparser';
import { smtpConnector, type SmtpOptions } from '../../shared/delivery/smtp';
import { MissingVariableError } from '../../shared/delivery/template';
import {
  PermanentDeliveryError,
  TransientDeliveryError,
  type DeliveryContext,
  type DeliveryFile,
  type DeliveryJob,
} from '../../shared/delivery/types';
import { silentLogger } from '../../shared/log';
import {
  CONNECTION_TYPES,
  completeAuthorization,
  getAccessToken,
  newKeyRingSecret,
  startAuthorization,
  type OAuthDeps,
} from '../../shared/oauth';
import { startStack, type TestStack } from '../helpers/env';
import type { SMTPServerAuthentication, SMTPServerOptions, SMTPServerSession } from 'smtp-server';
import { startSmtp, type TestSmtpServer } from '../helpers/smtpServer';
import { DEFAULT_USER, startOidcServer, type OidcServer } from '../helpers/oidcServer';

const TLS_DIR = join(__dirname, '..', 'fixtures', 'tls');
const CA = readFileSync(join(TLS_DIR, 'ca.pem'), 'utf8');

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

// ---------------------------------------------------------------------------------------------
// Jobs and contexts.

/** Small pieces: the attachment really is streamed, not handed over as one buffer. */
const memoryFile = (name: string, content: Buffer, contentType = 'application/pdf') => inMemory(content, name, contentType, 16 * 1024);

function job(fields: Record<string, string>, files: DeliveryFile[]): DeliveryJob {
  return { jobId: randomUUID(), receivedAt: new Date(), fields, files };
}

const context = (overrides: Partial<DeliveryContext> = {}): DeliveryContext => testContext({ 'smtp-password': 'pa55word' }, overrides).ctx;

function systemOptions(port: number, extra: Record<string, unknown> = {}): SmtpOptions {
  return smtpConnector.parseOptions({
    auth: { kind: 'system', host: '127.0.0.1', port },
    from: 'Scanner <scanner@contoso.example>',
    to: '%userEmail%',
    subject: 'Scan from %deviceName%',
    body: 'Scanned on %deviceName%.',
    tls: { ca: CA },
    ...extra,
  });
}

const FIELDS = { deviceName: 'MFP-3F', userEmail: 'bob@contoso.example', docName: 'Quarterly report' };

// ---------------------------------------------------------------------------------------------

describe('options', () => {
  it('validates and fills defaults, naming the bad option', () => {
    const base = { from: 'a@b.example', to: 'c@d.example', subject: 's', body: 'b' };
    const sys = smtpConnector.parseOptions({ ...base, auth: { kind: 'system', host: 'mail.example', port: 465 } });
    expect(sys).toMatchObject({ auth: { secure: true }, maxMessageBytes: 25 * 1024 * 1024 });
    expect(smtpConnector.parseOptions({ ...base, auth: { kind: 'system', host: 'mail.example', port: 25 } }).auth).toMatchObject({
      secure: false,
    });
    expect(
      smtpConnector.parseOptions({ ...base, auth: { kind: 'microsoft365', connectionId: 'c1', user: 'scans@contoso.example' } }).auth,
    ).toEqual({
      kind: 'microsoft365',
      connectionId: 'c1',
      user: 'scans@contoso.example',
      host: 'smtp.office365.com',
      port: 587,
    });
    expect(() => smtpConnector.parseOptions({ ...base })).toThrow(/"auth"/);
    expect(() => smtpConnector.parseOptions({ ...base, auth: { kind: 'other' } })).toThrow(/"auth.kind"/);
    expect(() => smtpConnector.parseOptions({ ...base, auth: { kind: 'system', host: 'mail.example', port: 0 } })).toThrow(/"auth.port"/);
    expect(() => smtpConnector.parseOptions({ ...base, auth: { kind: 'system', host: 'mail.example', port: 25, user: 'u' } })).toThrow(
      /"auth.user"/,
    );
    expect(() => smtpConnector.parseOptions({ ...base, auth: { kind: 'microsoft365', connectionId: 'c1' } })).toThrow(/"auth.user"/);
    expect(() => smtpConnector.parseOptions({ ...base, to: '', auth: { kind: 'system', host: 'h', port: 25 } })).toThrow(/"to"/);
    expect(() => smtpConnector.parseOptions({ ...base, maxMessageBytes: -1, auth: { kind: 'system', host: 'h', port: 25 } })).toThrow(
      /"maxMessageBytes"/,
    );
    expect(() => smtpConnector.parseOptions({ ...base, tls: { ca: 'nope' }, auth: { kind: 'system', host: 'h', port: 25 } })).toThrow(
      /"tls.ca"/,
    );
  });
});

describe('system SMTP server', () => {
  let smtp: TestSmtpServer;
  let plainOnly: TestSmtpServer;
  beforeAll(async () => {
    smtp = await startSmtp({
      onRcptTo(address, _session, callback) {
        if (address.address.startsWith('nobody@')) return callback(Object.assign(new Error('5.1.1 No such user'), { responseCode: 550 }));
        if (address.address.startsWith('busy@')) return callback(Object.assign(new Error('4.2.1 Try again later'), { responseCode: 451 }));
        callback();
      },
    });
    plainOnly = await startSmtp({
      authOptional: false,
      authMethods: ['PLAIN'],
      onAuth(auth, _session, callback) {
        if (auth.method === 'PLAIN' && auth.username === 'scanner' && auth.password === 'pa55word')
          return callback(null, { user: 'scanner' });
        callback(new Error('Invalid credentials'));
      },
    });
  });
  afterAll(async () => {
    await smtp?.stop();
    await plainOnly?.stop();
  });

  it('AUTH PLAIN over STARTTLS: three streamed attachments arrive intact, templates rendered, non-ASCII name kept', async () => {
    const files = [
      memoryFile('scan-0001.pdf', randomBytes(300 * 1024)),
      memoryFile('Überweisung – März 2026.pdf', randomBytes(70 * 1024 + 13)),
      memoryFile('photo.jpg', randomBytes(1024 * 1024 + 1), 'image/jpeg'),
    ];
    const options = smtpConnector.parseOptions({
      auth: { kind: 'system', host: '127.0.0.1', port: plainOnly.port, user: 'scanner', passwordSecret: 'smtp-password' },
      from: 'Scanner <scanner@contoso.example>',
      to: '%userEmail%, archive@contoso.example',
      cc: 'Team <team@contoso.example>',
      subject: 'Scan from %deviceName%: %docName%',
      body: 'Your scan "%docName%" from %deviceName%.\nRegards',
      tls: { ca: CA },
    });
    const result = await smtpConnector.deliver(job(FIELDS, files), options, context());

    expect(plainOnly.auths).toHaveLength(1);
    expect(plainOnly.auths[0]).toMatchObject({ method: 'PLAIN', username: 'scanner' });
    expect(plainOnly.messages).toHaveLength(1);
    const received = plainOnly.messages[0]!;
    expect(received.user).toBe('scanner');
    expect(received.mailFrom).toBe('scanner@contoso.example');
    expect(received.rcptTo.sort()).toEqual(['archive@contoso.example', 'bob@contoso.example', 'team@contoso.example']);

    const parsed = await simpleParser(received.raw);
    expect(result.remoteId).toBe(parsed.messageId);
    expect(parsed.subject).toBe('Scan from MFP-3F: Quarterly report');
    expect(parsed.text?.trim()).toBe('Your scan "Quarterly report" from MFP-3F.\nRegards');
    const addresses = (a: typeof parsed.to) => (Array.isArray(a) ? a : a ? [a] : []).flatMap((x) => x.value.map((v) => v.address));
    expect(addresses(parsed.to)).toEqual(['bob@contoso.example', 'archive@contoso.example']);
    expect(addresses(parsed.cc)).toEqual(['team@contoso.example']);
    expect(parsed.attachments.map((a) => a.filename)).toEqual(files.map((f) => f.name));
    expect(parsed.attachments.map((a) => a.contentType)).toEqual(['application/pdf', 'application/pdf', 'image/jpeg']);
    expect(parsed.attachments.map((a) => sha256(a.content))).toEqual(files.map((f) => f.sha256));
    // The non-ASCII name went over the wire encoded (RFC 2231 / encoded-word), not as raw UTF-8.
    expect(received.raw.toString('latin1')).not.toContain('Überweisung');
    expect(files.map((f) => f.opened)).toEqual([1, 1, 1]);
  });

  it('refuses a wrong password as permanent', async () => {
    const options = systemOptions(plainOnly.port, {
      auth: { kind: 'system', host: '127.0.0.1', port: plainOnly.port, user: 'scanner', passwordSecret: 'smtp-password' },
    });
    const err = await smtpConnector.deliver(job(FIELDS, []), options, context({ getSecret: async () => 'wrong' })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PermanentDeliveryError);
    expect((err as Error).message).toMatch(/535/);
  });

  it('CR/LF in a field used in the subject adds no header', async () => {
    const before = smtp.messages.length;
    const fields = { ...FIELDS, deviceName: 'MFP\r\nBcc: evil@attacker.example\r\nCc: evil2@attacker.example' };
    await smtpConnector.deliver(job(fields, []), systemOptions(smtp.port), context());
    expect(smtp.messages).toHaveLength(before + 1);
    const received = smtp.messages[before]!;
    const head = received.raw.toString('latin1').split('\r\n\r\n')[0]!;
    expect(head).not.toMatch(/^(Bcc|Cc):/im);
    expect(received.rcptTo).toEqual(['bob@contoso.example']);
    const parsed = await simpleParser(received.raw);
    expect(parsed.subject).toBe('Scan from MFP Bcc: evil@attacker.example Cc: evil2@attacker.example');
    expect(parsed.cc).toBeUndefined();
    expect(parsed.bcc).toBeUndefined();
  });

  it('CR/LF or a comma in a field used in "to" cannot add a recipient or header: refused, nothing sent', async () => {
    const before = { messages: smtp.messages.length, connections: smtp.connections };
    const named = (port: number) => systemOptions(port, { to: '%userName% <%userEmail%>' });
    const cases: [Record<string, string>, SmtpOptions][] = [
      [{ userEmail: 'bob@contoso.example\r\nCc: evil@attacker.example' }, systemOptions(smtp.port)],
      [{ userEmail: 'bob@contoso.example, evil@attacker.example' }, systemOptions(smtp.port)],
      [{ userEmail: 'bob@contoso.example\r\n\r\nbody' }, systemOptions(smtp.port)],
      [{ userEmail: 'bob@contoso.example evil@attacker.example' }, systemOptions(smtp.port)],
      [{ userEmail: 'Undisclosed: evil@attacker.example;' }, systemOptions(smtp.port)],
      [{ userName: 'Evil <evil@attacker.example>', userEmail: 'bob@contoso.example' }, named(smtp.port)],
      [{ userName: 'Bob\r\nBcc: evil@attacker.example', userEmail: 'bob@contoso.example' }, named(smtp.port)],
    ];
    for (const [fields, options] of cases) {
      const err = await smtpConnector.deliver(job({ ...FIELDS, ...fields }, []), options, context()).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(PermanentDeliveryError);
      expect((err as Error).message).toMatch(/"to"/);
    }
    expect(smtp.messages.length).toBe(before.messages);
    expect(smtp.connections).toBe(before.connections);
  });

  it('a missing template variable is a permanent MissingVariableError', async () => {
    const err = await smtpConnector.deliver(job({ deviceName: 'MFP' }, []), systemOptions(smtp.port), context()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MissingVariableError);
    expect(err).toBeInstanceOf(PermanentDeliveryError);
  });

  it('attachments over maxMessageBytes: permanent, before any connection, files never opened', async () => {
    const connections = smtp.connections;
    const files = [memoryFile('a.pdf', randomBytes(600)), memoryFile('b.pdf', randomBytes(600))];
    const err = await smtpConnector
      .deliver(job(FIELDS, files), systemOptions(smtp.port, { maxMessageBytes: 1000 }), context())
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PermanentDeliveryError);
    expect((err as Error).message).toMatch(/maxMessageBytes/);
    expect((err as Error).message).toMatch(/1000 bytes/);
    expect(smtp.connections).toBe(connections);
    expect(files.map((f) => f.opened)).toEqual([0, 0]);
  });

  it('a 550 reply is permanent, a 451 reply transient', async () => {
    const rejected = await smtpConnector
      .deliver(
        job({ ...FIELDS, userEmail: 'nobody@contoso.example' }, [memoryFile('a.pdf', randomBytes(1000))]),
        systemOptions(smtp.port),
        context(),
      )
      .catch((e: unknown) => e);
    expect(rejected).toBeInstanceOf(PermanentDeliveryError);
    expect((rejected as Error).message).toMatch(/550/);

    const busy = await smtpConnector
      .deliver(job({ ...FIELDS, userEmail: 'busy@contoso.example' }, []), systemOptions(smtp.port), context())
      .catch((e: unknown) => e);
    expect(busy).toBeInstanceOf(TransientDeliveryError);
    expect((busy as Error).message).toMatch(/451/);
  });

  it("a 550 reason gives the server's reply once", async () => {
    const rejected = await smtpConnector
      .deliver(job({ ...FIELDS, userEmail: 'nobody@contoso.example' }, []), systemOptions(smtp.port), context())
      .catch((e: unknown) => e);
    expect(rejected).toBeInstanceOf(PermanentDeliveryError);
    const message = (rejected as Error).message;
    expect(message).toMatch(new RegExp(`^SMTP delivery to 127\\.0\\.0\\.1:${smtp.port}: `));
    expect(message.split('5.1.1 No such user')).toHaveLength(2);
    expect(message.split('550')).toHaveLength(2);
    expect(message).not.toMatch(/[\r\n]/);
  });

  it('a closed port is transient', async () => {
    const probe = createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', () => resolve()));
    const port = (probe.address() as AddressInfo).port;
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    const err = await smtpConnector.deliver(job(FIELDS, []), systemOptions(port), context()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TransientDeliveryError);
    expect((err as Error).message).toMatch(/ECONNREFUSED|connect/i);
  });
});

describe('TLS before authentication (system auth)', () => {
  /** Offers no STARTTLS and (unlike smtp-server's default) would accept AUTH in clear. */
  let noTls: TestSmtpServer;
  /** Implicit TLS (SMTPS) from the first byte. */
  let implicitTls: TestSmtpServer;
  const acceptScanner = (
    auth: SMTPServerAuthentication,
    _session: SMTPServerSession,
    callback: (err: Error | null | undefined, response?: { user: string }) => void,
  ) => {
    if (auth.username === 'scanner' && auth.password === 'pa55word') return callback(null, { user: 'scanner' });
    callback(new Error('Invalid credentials'));
  };
  beforeAll(async () => {
    noTls = await startSmtp({
      disabledCommands: ['STARTTLS'],
      allowInsecureAuth: true,
      authMethods: ['PLAIN', 'LOGIN'],
      onAuth: acceptScanner,
    });
    implicitTls = await startSmtp({ secure: true, authMethods: ['PLAIN'], onAuth: acceptScanner });
  });
  afterAll(async () => {
    await noTls?.stop();
    await implicitTls?.stop();
  });

  const withPassword = (port: number, auth: Record<string, unknown> = {}) =>
    systemOptions(port, { auth: { kind: 'system', host: '127.0.0.1', port, user: 'scanner', passwordSecret: 'smtp-password', ...auth } });

  it('never sends the password to a server that offers no STARTTLS: permanent, no AUTH, nothing sent, the way out named', async () => {
    const before = { auths: noTls.auths.length, messages: noTls.messages.length };
    const err = await smtpConnector
      .deliver(job(FIELDS, [memoryFile('a.pdf', randomBytes(1000))]), withPassword(noTls.port), context())
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PermanentDeliveryError);
    const message = (err as Error).message;
    expect(message).toContain(`127.0.0.1:${noTls.port}`);
    expect(message).toMatch(/STARTTLS/);
    expect(message).toMatch(/"secure": true/);
    expect(message).toMatch(/"auth\.allowPlaintextAuth": true/);
    expect(message).not.toContain('pa55word');
    expect(noTls.auths).toHaveLength(before.auths);
    expect(noTls.messages).toHaveLength(before.messages);
  });

  it('"auth.allowPlaintextAuth": true sends it in clear anyway (unsafe, on request)', async () => {
    const before = noTls.messages.length;
    await smtpConnector.deliver(job(FIELDS, []), withPassword(noTls.port, { allowPlaintextAuth: true }), context());
    expect(noTls.auths.at(-1)).toMatchObject({ username: 'scanner' });
    expect(noTls.messages).toHaveLength(before + 1);
    expect(noTls.messages.at(-1)).toMatchObject({ user: 'scanner', secure: false });
  });

  it('with allowPlaintextAuth, STARTTLS is still used when the server offers it', async () => {
    const server = await startSmtp({ authMethods: ['PLAIN'], onAuth: acceptScanner });
    try {
      await smtpConnector.deliver(job(FIELDS, []), withPassword(server.port, { allowPlaintextAuth: true }), context());
      expect(server.messages).toEqual([expect.objectContaining({ user: 'scanner', secure: true })]);
    } finally {
      await server.stop();
    }
  });

  it('implicit TLS ("secure": true) authenticates over TLS from the start', async () => {
    await smtpConnector.deliver(job(FIELDS, []), withPassword(implicitTls.port, { secure: true }), context());
    expect(implicitTls.auths).toEqual([expect.objectContaining({ username: 'scanner' })]);
    expect(implicitTls.messages).toEqual([expect.objectContaining({ user: 'scanner', secure: true })]);
  });

  it('without credentials (relay by IP), a server without STARTTLS still gets the message; STARTTLS is used when offered', async () => {
    const before = noTls.messages.length;
    await smtpConnector.deliver(job(FIELDS, []), systemOptions(noTls.port), context());
    expect(noTls.messages).toHaveLength(before + 1);
    expect(noTls.messages.at(-1)).toMatchObject({ user: undefined, secure: false });

    const offering = await startSmtp();
    try {
      await smtpConnector.deliver(job(FIELDS, []), systemOptions(offering.port), context());
      expect(offering.messages).toEqual([expect.objectContaining({ secure: true })]);
    } finally {
      await offering.stop();
    }
  });

  it('validates allowPlaintextAuth', () => {
    const base = { from: 'a@b.example', to: 'c@d.example', subject: 's', body: 'b' };
    const sys = (auth: Record<string, unknown>) =>
      smtpConnector.parseOptions({ ...base, auth: { kind: 'system', host: 'mail.example', port: 587, ...auth } });
    expect(sys({ user: 'u', passwordSecret: 'p' }).auth).toMatchObject({ allowPlaintextAuth: false });
    expect(sys({ user: 'u', passwordSecret: 'p', allowPlaintextAuth: true }).auth).toMatchObject({ allowPlaintextAuth: true });
    expect(() => sys({ user: 'u', passwordSecret: 'p', allowPlaintextAuth: 'yes' })).toThrow(
      /"auth\.allowPlaintextAuth" must be true or false/,
    );
    expect(() => sys({ allowPlaintextAuth: true })).toThrow(/"auth\.allowPlaintextAuth".*"auth\.user"/);
    expect(() =>
      smtpConnector.parseOptions({
        ...base,
        auth: { kind: 'microsoft365', connectionId: 'c1', user: 'scans@contoso.example', allowPlaintextAuth: true },
      }),
    ).toThrow(/"auth\.allowPlaintextAuth".*microsoft365/);
  });
});

describe('certificates that fail verification: permanent at once, naming the certificate and why', () => {
  const OTHER_CA = readFileSync(join(TLS_DIR, 'other-ca.pem'), 'utf8');
  const OTHER_CA_NAME = 'CN=ScanRelay Other Test CA (test only, do not trust)';
  const cases = [
    {
      name: 'a self-signed certificate',
      cert: 'self-signed',
      ca: CA,
      code: 'DEPTH_ZERO_SELF_SIGNED_CERT',
      words: /is self-signed/,
      subject: 'CN=localhost',
      issuer: 'CN=localhost',
      advice: /"tls\.ca"/,
    },
    {
      name: 'an unknown CA',
      cert: 'other-server',
      ca: CA,
      code: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
      words: /not issued by a trusted CA/,
      subject: 'CN=localhost',
      issuer: OTHER_CA_NAME,
      advice: /"tls\.ca"/,
    },
    {
      name: 'an expired certificate',
      cert: 'expired',
      ca: OTHER_CA,
      code: 'CERT_HAS_EXPIRED',
      words: /expired on 2021-01-01/,
      subject: 'CN=localhost',
      issuer: OTHER_CA_NAME,
      advice: /Renew/,
    },
    {
      name: 'the wrong host name',
      cert: 'wrong-host',
      ca: OTHER_CA,
      code: 'ERR_TLS_CERT_ALTNAME_INVALID',
      words: /not issued for 127\.0\.0\.1/,
      subject: 'CN=wrong-host.scanrelay.test',
      issuer: OTHER_CA_NAME,
      advice: /"auth\.host"/,
    },
  ];
  const serve = (cert: string, extra: Partial<SMTPServerOptions> = {}) =>
    startSmtp({
      key: readFileSync(join(TLS_DIR, `${cert}-key.pem`)),
      cert: readFileSync(join(TLS_DIR, `${cert}.pem`)),
      authMethods: ['PLAIN'],
      onAuth: (_auth, _session, callback) => callback(null, { user: 'scanner' }),
      ...extra,
    });
  const withPassword = (port: number, ca: string, auth: Record<string, unknown> = {}) =>
    systemOptions(port, {
      auth: { kind: 'system', host: '127.0.0.1', port, user: 'scanner', passwordSecret: 'smtp-password', ...auth },
      tls: { ca },
    });

  it.each(cases)('$name (STARTTLS): PermanentDeliveryError with $code, subject and issuer; no AUTH, nothing sent', async (c) => {
    const server = await serve(c.cert);
    try {
      const err = await smtpConnector
        .deliver(job(FIELDS, [memoryFile('a.pdf', randomBytes(1000))]), withPassword(server.port, c.ca), context())
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(PermanentDeliveryError);
      const message = (err as Error).message;
      expect(message).toMatch(
        new RegExp(`^SMTP delivery to 127\\.0\\.0\\.1:${server.port}: the TLS certificate of 127\\.0\\.0\\.1:${server.port} was refused: `),
      );
      expect(message).toMatch(c.words);
      expect(message).toContain(`(${c.code})`);
      expect(message).toContain(`subject "${c.subject}"`);
      expect(message).toContain(`issuer "${c.issuer}"`);
      expect(message).toMatch(c.advice);
      expect(message).not.toContain('pa55word');
      expect(message).not.toMatch(/[\r\n]/);
      expect(server.auths).toEqual([]);
      expect(server.messages).toEqual([]);
    } finally {
      await server.stop();
    }
  });

  it('a self-signed certificate with implicit TLS ("secure": true) is permanent too, naming it', async () => {
    const server = await serve('self-signed', { secure: true });
    try {
      const err = await smtpConnector
        .deliver(job(FIELDS, []), withPassword(server.port, CA, { secure: true }), context())
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(PermanentDeliveryError);
      expect((err as Error).message).toMatch(/is self-signed.*\(DEPTH_ZERO_SELF_SIGNED_CERT\).*subject "CN=localhost"/);
      expect(server.auths).toEqual([]);
    } finally {
      await server.stop();
    }
  });

  it('the same server is delivered to once its CA is named in tls.ca', async () => {
    const server = await serve('other-server');
    try {
      await smtpConnector.deliver(job(FIELDS, []), withPassword(server.port, OTHER_CA), context());
      expect(server.messages).toEqual([expect.objectContaining({ user: 'scanner', secure: true })]);
    } finally {
      await server.stop();
    }
  });
});

describe('Microsoft 365 (XOAUTH2 with connection tokens)', () => {
  const CLIENT_ID = '3f1c2b7a-9d4e-4c8a-a1b2-0c9d8e7f6a5b';
  const BASE = 'https://scanrelay.test';
  let idp: OidcServer;
  let stack: TestStack;
  let deps: OAuthDeps;
  let connectionId: string;
  let smtp: TestSmtpServer;
  /** Tokens the server refuses (to test the renewal). */
  const refuse = new Set<string>();
  /** Tokens refused with the Gmail-style 334 JSON challenge instead of 535. */
  const challenge = new Set<string>();

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
    stack = await startStack({ OAUTH_AUTHORITY_HOST: idp.baseUrl, OAUTH_CLIENT_ID: CLIENT_ID, PUBLIC_BASE_URL: BASE });
    writeFileSync(
      stack.secretsFile,
      JSON.stringify({ 'oauth-client-secret': 'the-client-secret', 'token-encryption-keys': newKeyRingSecret('k1') }),
    );
    deps = stack.services.oauthDeps(silentLogger);

    // Authorize a connection as the administrator would (see oauthFlow.test.ts).
    connectionId = randomUUID();
    await stack.services.storage.connections.create({
      id: connectionId,
      type: 'smtpMicrosoft',
      tenant: 'organizations',
      displayName: 'Scans mailbox',
    });
    const url = await startAuthorization(deps, { kind: 'key' }, connectionId, DEFAULT_USER.upn);
    const res = await fetch(url, { redirect: 'manual' });
    const query = Object.fromEntries(new URL(res.headers.get('location')!).searchParams);
    expect(await completeAuthorization(deps, 'smtpMicrosoft', query)).toMatchObject({ ok: true });

    smtp = await startSmtp({
      connectionsPerUser: 3,
      dataDelayMs: 50,
      authOptional: false,
      authMethods: ['XOAUTH2'],
      onAuth(auth, session, callback) {
        if (!session.secure) return callback(new Error('5.7.0 STARTTLS first'));
        if (auth.method !== 'XOAUTH2' || !auth.accessToken) return callback(new Error('XOAUTH2 only'));
        if (challenge.has(auth.accessToken)) return callback(null, { data: { status: '401', schemes: 'bearer' } });
        if (refuse.has(auth.accessToken))
          return callback(Object.assign(new Error('5.7.3 Authentication unsuccessful'), { responseCode: 535 }));
        try {
          const { payload } = idp.verifyJwt(auth.accessToken);
          const scopes = (typeof payload.scp === 'string' ? payload.scp : '').split(' ');
          if (!scopes.includes('SMTP.Send')) return callback(new Error('5.7.3 token lacks SMTP.Send'));
          if (payload.preferred_username !== undefined && payload.preferred_username !== auth.username)
            return callback(new Error('5.7.3 token of another user'));
          callback(null, { user: auth.username });
        } catch (err) {
          callback(Object.assign(new Error(`5.7.3 ${(err as Error).message}`), { responseCode: 535 }));
        }
      },
    });
  });
  afterAll(async () => {
    await smtp?.stop();
    await stack?.stop();
    await idp?.stop();
  });

  function m365Options(): SmtpOptions {
    return smtpConnector.parseOptions({
      auth: { kind: 'microsoft365', connectionId, user: DEFAULT_USER.upn, host: '127.0.0.1', port: smtp.port },
      from: DEFAULT_USER.upn,
      to: '%userEmail%',
      subject: 'Scan from %deviceName%',
      body: 'Scanned.',
      tls: { ca: CA },
    });
  }

  /** A context whose getAccessToken is the real one (the connector asks for a forced refresh when it renews). */
  function oauthContext() {
    const issued: string[] = [];
    const ctx = context({
      getAccessToken: async (id, options) => {
        const token = (await getAccessToken(deps, id, { forceRefresh: options?.forceRefresh })).accessToken;
        issued.push(token);
        return token;
      },
    });
    return { ctx, issued };
  }

  it('authenticates with the connection access token (SMTP.Send) over STARTTLS', async () => {
    const before = { auths: smtp.auths.length, messages: smtp.messages.length };
    const { ctx, issued } = oauthContext();
    const file = memoryFile('scan.pdf', randomBytes(50_000));
    const result = await smtpConnector.deliver(job(FIELDS, [file]), m365Options(), ctx);
    expect(issued).toHaveLength(1);
    expect(smtp.auths.slice(before.auths)).toEqual([
      expect.objectContaining({ method: 'XOAUTH2', username: DEFAULT_USER.upn, accessToken: issued[0] }),
    ]);
    expect(String(idp.verifyJwt(issued[0]!).payload.scp).split(' ')).toContain('SMTP.Send');
    expect(smtp.messages).toHaveLength(before.messages + 1);
    const parsed = await simpleParser(smtp.messages[before.messages]!.raw);
    expect(parsed.messageId).toBe(result.remoteId);
    expect(sha256(parsed.attachments[0]!.content)).toBe(file.sha256);
  });

  it("a burst from one account keeps to Exchange's 3 concurrent connections per mailbox: none refused with 432, all sent", async () => {
    const before = { messages: smtp.messages.length, refused: smtp.refusedConcurrent };
    const { ctx } = oauthContext();
    const files = Array.from({ length: 8 }, (_, i) => memoryFile(`scan-${i}.pdf`, randomBytes(20_000)));
    await Promise.all(files.map((f) => smtpConnector.deliver(job(FIELDS, [f]), m365Options(), ctx)));
    expect(smtp.messages).toHaveLength(before.messages + 8);
    expect(smtp.refusedConcurrent).toBe(before.refused);
    expect(smtp.maxConnectionsPerUser).toBe(3);
  });

  it('535 on the first token: one fresh token, one retry, delivered once with the attachments reopened', async () => {
    const before = { auths: smtp.auths.length, messages: smtp.messages.length };
    const { ctx, issued } = oauthContext();
    const first = (await getAccessToken(deps, connectionId)).accessToken;
    refuse.add(first);
    const file = memoryFile('scan.pdf', randomBytes(50_000));
    await smtpConnector.deliver(job(FIELDS, [file]), m365Options(), ctx);
    expect(issued).toHaveLength(2);
    expect(issued[0]).toBe(first);
    expect(issued[1]).not.toBe(first);
    expect(smtp.auths.slice(before.auths).map((a) => a.accessToken)).toEqual(issued);
    expect(smtp.messages).toHaveLength(before.messages + 1);
    const parsed = await simpleParser(smtp.messages[before.messages]!.raw);
    expect(sha256(parsed.attachments[0]!.content)).toBe(file.sha256);
    expect(file.opened).toBe(2);
  });

  it('a 334 XOAUTH2 error challenge also renews the token once', async () => {
    const before = { auths: smtp.auths.length, messages: smtp.messages.length };
    const { ctx, issued } = oauthContext();
    const first = (await getAccessToken(deps, connectionId)).accessToken;
    challenge.add(first);
    await smtpConnector.deliver(job(FIELDS, []), m365Options(), ctx);
    expect(issued).toHaveLength(2);
    expect(smtp.auths.slice(before.auths).map((a) => a.accessToken)).toEqual(issued);
    expect(smtp.messages).toHaveLength(before.messages + 1);
  });

  it('the renewed token refused too: permanent, no third attempt', async () => {
    const before = smtp.messages.length;
    const issued: string[] = [];
    const ctx = context({
      getAccessToken: async (id) => {
        const token = (await getAccessToken(deps, id, { forceRefresh: issued.length > 0 })).accessToken;
        issued.push(token);
        refuse.add(token);
        return token;
      },
    });
    const err = await smtpConnector.deliver(job(FIELDS, []), m365Options(), ctx).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PermanentDeliveryError);
    expect((err as Error).message).toMatch(/535/);
    expect(issued).toHaveLength(2);
    expect(smtp.messages).toHaveLength(before);
  });

  it('never sends the access token to a server that offers no STARTTLS (XOAUTH2 needs TLS as a password does)', async () => {
    const noTls = await startSmtp({
      disabledCommands: ['STARTTLS'],
      allowInsecureAuth: true,
      authMethods: ['XOAUTH2'],
      onAuth: (_auth, _session, callback) => callback(null, { user: DEFAULT_USER.upn }),
    });
    try {
      const { ctx, issued } = oauthContext();
      const options = {
        ...m365Options(),
        auth: { ...(m365Options().auth as Extract<SmtpOptions['auth'], { kind: 'microsoft365' }>), port: noTls.port },
      };
      const err = await smtpConnector.deliver(job(FIELDS, []), options, ctx).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(PermanentDeliveryError);
      expect((err as Error).message).toMatch(/did not start TLS.*the access token was not sent/);
      expect(issued).toHaveLength(1);
      expect((err as Error).message).not.toContain(issued[0]!);
      expect(noTls.auths).toEqual([]);
      expect(noTls.messages).toEqual([]);
    } finally {
      await noTls.stop();
    }
  });

  it('a connection that needs reauthorization is permanent', async () => {
    const err = await smtpConnector
      .deliver(
        job(FIELDS, []),
        {
          ...m365Options(),
          auth: { ...(m365Options().auth as Extract<SmtpOptions['auth'], { kind: 'microsoft365' }>), connectionId: 'no-such-connection' },
        },
        oauthContext().ctx,
      )
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PermanentDeliveryError);
  });
});
