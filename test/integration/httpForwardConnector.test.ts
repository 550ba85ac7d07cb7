/**
 * The HTTP forward connector over real HTTPS on loopback (test/fixtures/tls): the server name it
 * sends (none for an address URL, so Node logs no DEP0123 warning), the destination's own CA
 * (`tls.ca` PEM text, `tls.caFile`, `tls.caSecret`) and its validation, and server certificates
 * that fail verification (permanent at once, naming the certificate and why, nothing sent).
 *
 * The test CA (ca.pem, which signed server.pem) is trusted process-wide by NODE_EXTRA_CA_CERTS
 * (`npm test`); the other CA (other-ca.pem) is not, so its certificates are trusted only where a
 * destination names it.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { httpForwardConnector, type HttpForwardOptions } from '../../shared/delivery/httpForward';
import { PermanentDeliveryError, TransientDeliveryError, type DeliveryJob } from '../../shared/delivery/types';
import { memoryFile, testContext } from '../helpers/deliveryFiles';
import { recordProcessWarnings } from '../helpers/processWarnings';
import { startReceiver, type Receiver } from '../helpers/receiver';

const TLS_DIR = join(__dirname, '..', 'fixtures', 'tls');
const read = (name: string) => readFileSync(join(TLS_DIR, name), 'utf8');
const OTHER_CA = read('other-ca.pem');
const BEARER = 'the-fax-api-token-7f3a';

function job(): DeliveryJob {
  const file = memoryFile(randomBytes(40_000), 'scan.pdf');
  return {
    jobId: `job-${randomBytes(4).toString('hex')}`,
    receivedAt: new Date(),
    fields: { deviceName: 'MFP-3F', faxNumber: '+420123456789' },
    files: [file],
  };
}

const context = (secrets: Record<string, string> = {}) => testContext(secrets);

const forward = (url: string, extra: Record<string, unknown> = {}): HttpForwardOptions =>
  httpForwardConnector.parseOptions({ url, allowPrivateNetworks: true, bearerTokenSecret: 'fax-api-token', ...extra });

const secrets = { 'fax-api-token': BEARER };

/** An HTTPS receiver with the fixture `name` (name.pem, name-key.pem). */
const receiverWith = (name: string, host?: string) =>
  startReceiver({ tls: { cert: read(`${name}.pem`), key: read(`${name}-key.pem`) }, host });

const receivers: Receiver[] = [];
async function serve(name: string, host?: string): Promise<Receiver> {
  const r = await receiverWith(name, host);
  receivers.push(r);
  return r;
}
afterAll(async () => {
  await Promise.all(receivers.map((r) => r.stop()));
});

beforeAll(() => {
  if (!process.env.NODE_EXTRA_CA_CERTS) throw new Error('Run with NODE_EXTRA_CA_CERTS=test/fixtures/tls/ca.pem (npm test sets it).');
});

// First in the file: Node emits DEP0123 once per process.
describe('server name (SNI)', () => {
  it('an address URL (https://127.0.0.1) sends no server name and Node logs no DEP0123 warning', async () => {
    const receiver = await serve('server');
    const warnings = recordProcessWarnings();
    try {
      await httpForwardConnector.deliver(job(), forward(receiver.url), context(secrets).ctx);
    } finally {
      await warnings.stop();
    }
    expect(receiver.received).toHaveLength(1);
    expect(receiver.received[0]!.servername).toBe(false);
    expect(receiver.received[0]!.headers.authorization).toBe(`Bearer ${BEARER}`);
    expect(warnings.warnings).toEqual([]);
  });

  it('an IPv6 address URL (https://[::1]) is checked against the address, without a server name', async () => {
    const receiver = await serve('server', '::1');
    expect(receiver.url).toMatch(/^https:\/\/\[::1\]:\d+\//);
    await httpForwardConnector.deliver(job(), forward(receiver.url), context(secrets).ctx);
    expect(receiver.received).toEqual([expect.objectContaining({ servername: false })]);
  });

  it('a host name URL (https://localhost) sends it as the server name', async () => {
    const receiver = await serve('server');
    await httpForwardConnector.deliver(job(), forward(receiver.url.replace('127.0.0.1', 'localhost')), context(secrets).ctx);
    expect(receiver.received).toEqual([expect.objectContaining({ servername: 'localhost' })]);
  });
});

describe("the destination's own CA (tls.ca, tls.caFile, tls.caSecret)", () => {
  it('"tls.ca" (PEM text) trusts a server whose CA Node does not trust', async () => {
    const receiver = await serve('other-server');
    await httpForwardConnector.deliver(job(), forward(receiver.url, { tls: { ca: OTHER_CA } }), context(secrets).ctx);
    expect(receiver.received).toHaveLength(1);
  });

  it('"tls.caFile" reads the PEM file at start-up', async () => {
    const receiver = await serve('other-server');
    const dir = mkdtempSync(join(tmpdir(), 'scanrelay-ca-'));
    const file = join(dir, 'fax-ca.pem');
    writeFileSync(file, `# the fax provider's CA\n${OTHER_CA}`);
    const options = forward(receiver.url, { tls: { caFile: file } });
    writeFileSync(file, 'replaced after start-up'); // already read
    await httpForwardConnector.deliver(job(), options, context(secrets).ctx);
    expect(receiver.received).toHaveLength(1);
  });

  it('"tls.caSecret" reads the PEM text from the secret store at delivery, not at start-up', async () => {
    const receiver = await serve('other-server');
    const options = forward(receiver.url, { tls: { caSecret: 'fax-api-ca' } });
    const { ctx, read: secretsRead } = context({ ...secrets, 'fax-api-ca': OTHER_CA });
    expect(secretsRead).toEqual([]);
    await httpForwardConnector.deliver(job(), options, ctx);
    expect(secretsRead).toContain('fax-api-ca');
    expect(receiver.received).toHaveLength(1);
  });

  it('a secret that holds no PEM certificate is permanent, naming the secret but not its value; nothing sent', async () => {
    const receiver = await serve('other-server');
    const { ctx } = context({ ...secrets, 'fax-api-ca': 'not-a-certificate-s3cr3t' });
    const err = await httpForwardConnector
      .deliver(job(), forward(receiver.url, { tls: { caSecret: 'fax-api-ca' } }), ctx)
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PermanentDeliveryError);
    expect((err as Error).message).toMatch(/secret 'fax-api-ca' \("tls\.caSecret"\) must be PEM text/);
    expect((err as Error).message).not.toContain('s3cr3t');
    expect(receiver.requests).toBe(0);
  });

  it("a destination's CA replaces Node's trusted CAs for it: a server of the process-wide test CA is then refused", async () => {
    const receiver = await serve('server');
    const err = await httpForwardConnector
      .deliver(job(), forward(receiver.url, { tls: { ca: OTHER_CA } }), context(secrets).ctx)
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PermanentDeliveryError);
    expect((err as Error).message).toContain('issuer "CN=ScanRelay Test CA (test only, do not trust)"');
    expect(receiver.requests).toBe(0);
  });

  describe('validation at start-up, naming the option', () => {
    const url = 'https://fax.example.net/api';
    const dir = mkdtempSync(join(tmpdir(), 'scanrelay-ca-'));
    const notPem = join(dir, 'not.pem');
    writeFileSync(notPem, 'hello');
    const withKey = join(dir, 'with-key.pem');
    writeFileSync(withKey, `${OTHER_CA}${read('other-server-key.pem')}`);
    const garbled = OTHER_CA.replace(/^(-----BEGIN CERTIFICATE-----\n)[A-Za-z0-9+/]{10}/, '$1AAAAAAAAAA');

    it.each<[string, unknown, RegExp]>([
      ['not an object', 'pem', /"tls" must be an object/],
      ['an array', [OTHER_CA], /"tls" must be an object/],
      ['empty', {}, /exactly one of "ca".*"caFile".*"caSecret"/],
      ['two sources', { ca: OTHER_CA, caSecret: 'x' }, /exactly one of/],
      [
        'an unknown key',
        { ca: OTHER_CA, rejectUnauthorized: false },
        /"tls" accepts "ca", "caFile" or "caSecret" only, not "rejectUnauthorized"/,
      ],
      ['ca not a string', { ca: 42 }, /"tls\.ca" must be a non-empty string/],
      ['ca without a certificate', { ca: 'hello' }, /"tls\.ca" must be PEM text with one or more certificates/],
      ['ca that cannot be read', { ca: garbled }, /"tls\.ca": certificate 1 of 1 is not a readable X\.509 certificate/],
      ['ca with a private key', { ca: `${OTHER_CA}${read('other-server-key.pem')}` }, /"tls\.ca" contains a private key/],
      ['caFile missing', { caFile: join(dir, 'missing.pem') }, /"tls\.caFile": .*missing\.pem cannot be read \(ENOENT\)/],
      ['caFile a folder', { caFile: dir }, /"tls\.caFile": .* cannot be read \(EISDIR\)/],
      ['caFile not PEM', { caFile: notPem }, /"tls\.caFile" \(.*not\.pem\) must be PEM text/],
      ['caFile with a private key', { caFile: withKey }, /"tls\.caFile" \(.*with-key\.pem\) contains a private key/],
      ['caSecret not kebab-case', { caSecret: 'Fax_CA' }, /"tls\.caSecret" must be a secret name/],
      ['caSecret empty', { caSecret: ' ' }, /"tls\.caSecret" must be a non-empty string/],
    ])('refuses tls %s', (_name, tls, message) => {
      expect(() => httpForwardConnector.parseOptions({ url, tls })).toThrow(message);
    });

    it('refuses tls on an http:// URL', () => {
      expect(() =>
        httpForwardConnector.parseOptions({ url: 'http://fax.example.net/api', allowHttp: true, tls: { ca: OTHER_CA } }),
      ).toThrow(/"tls" applies to an https:\/\/ "url" only/);
    });

    it('keeps only the certificates of the PEM text', () => {
      const o = httpForwardConnector.parseOptions({ url, tls: { ca: `comment\n${OTHER_CA}\n${read('ca.pem')}trailer` } });
      expect(o.tls).toEqual({ ca: `${OTHER_CA.trim()}\n${read('ca.pem').trim()}\n`, source: '"tls.ca"' });
      expect(httpForwardConnector.parseOptions({ url, tls: { caSecret: 'fax-api-ca' } }).tls).toEqual({ caSecret: 'fax-api-ca' });
    });
  });
});

describe('certificates that fail verification: permanent at once, naming the certificate and why', () => {
  const OTHER_CA_NAME = 'CN=ScanRelay Other Test CA (test only, do not trust)';
  const cases = [
    {
      name: 'a self-signed certificate',
      cert: 'self-signed',
      ca: undefined,
      host: '127.0.0.1',
      code: 'DEPTH_ZERO_SELF_SIGNED_CERT',
      words: /is self-signed/,
      subject: 'CN=localhost',
      issuer: 'CN=localhost',
      advice: /"tls\.ca", "tls\.caFile" or "tls\.caSecret"/,
    },
    {
      name: 'an unknown CA',
      cert: 'other-server',
      ca: undefined,
      host: '127.0.0.1',
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
      host: '127.0.0.1',
      code: 'CERT_HAS_EXPIRED',
      words: /expired on 2021-01-01/,
      subject: 'CN=localhost',
      issuer: OTHER_CA_NAME,
      advice: /Renew/,
    },
    {
      name: 'the wrong address',
      cert: 'wrong-host',
      ca: OTHER_CA,
      host: '127.0.0.1',
      code: 'ERR_TLS_CERT_ALTNAME_INVALID',
      words: /not issued for 127\.0\.0\.1/,
      subject: 'CN=wrong-host.scanrelay.test',
      issuer: OTHER_CA_NAME,
      advice: /"url"/,
    },
    {
      name: 'the wrong host name',
      cert: 'wrong-host',
      ca: OTHER_CA,
      host: 'localhost',
      code: 'ERR_TLS_CERT_ALTNAME_INVALID',
      words: /not issued for localhost/,
      subject: 'CN=wrong-host.scanrelay.test',
      issuer: OTHER_CA_NAME,
      advice: /"url"/,
    },
  ];

  it.each(cases)('$name ($host): PermanentDeliveryError with $code, subject and issuer; nothing sent', async (c) => {
    const receiver = await serve(c.cert);
    const url = receiver.url.replace('127.0.0.1', c.host);
    const where = `${c.host}:${new URL(url).port}`.replace(/\./g, '\\.');
    const err = await httpForwardConnector
      .deliver(job(), forward(url, c.ca ? { tls: { ca: c.ca } } : {}), context(secrets).ctx)
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PermanentDeliveryError);
    const message = (err as Error).message;
    expect(message).toMatch(new RegExp(`^HTTP forward to ${where}: the TLS certificate of ${where} was refused: `));
    expect(message).toMatch(c.words);
    expect(message).toContain(`(${c.code})`);
    expect(message).toContain(`subject "${c.subject}"`);
    expect(message).toContain(`issuer "${c.issuer}"`);
    expect(message).toMatch(c.advice);
    expect(message).not.toContain(BEARER);
    expect(message).not.toMatch(/[\r\n]/);
    expect(receiver.requests).toBe(0);
  });

  it('a network failure is still transient', async () => {
    const receiver = await serve('server');
    const url = receiver.url;
    await receiver.stop();
    const err = await httpForwardConnector.deliver(job(), forward(url), context(secrets).ctx).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TransientDeliveryError);
  });
});
