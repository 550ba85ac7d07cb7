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
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { httpForwardConnector, type HttpForwardOptions } from '../../shared/delivery/httpForward';
import type { DeliveryContext, DeliveryJob } from '../../shared/delivery/types';
import { silentLogger } from '../../shared/log';
import { memoryFile } from '../helpers/deliveryFiles';
import { startReceiver, type Receiver } from '../helpers/receiver';

const TLS_DIR = join(__dirname, '..', 'fixtures', 'tls');
const read = (name: string) => readFileSync(join(TLS_DIR, name), 'utf8');
const BEARER = 'the-fax-api-token-7f3a';

function job(): DeliveryJob {
  const file = memoryFile(randomBytes(40_000), 'scan.pdf');
  return { jobId: `job-${randomBytes(4).toString('hex')}`, receivedAt: new Date(), fields: { deviceName: 'MFP-3F', faxNumber: '+420123456789' }, files: [file] };
}

/** A context whose secrets are the given ones; records which were read. */
function context(secrets: Record<string, string> = {}) {
  const read: string[] = [];
  const ctx: DeliveryContext = {
    getAccessToken: async () => {
      throw new Error('no OAuth here');
    },
    getApplicationToken: async () => {
      throw new Error('no app-only tokens here');
    },
    graphBaseUrl: 'https://graph.invalid/v1.0',
    getSecret: async (name) => {
      read.push(name);
      if (Object.hasOwn(secrets, name)) return secrets[name]!;
      throw new Error(`no secret ${name}`);
    },
    log: silentLogger,
  };
  return { ctx, read };
}

const forward = (url: string, extra: Record<string, unknown> = {}): HttpForwardOptions =>
  httpForwardConnector.parseOptions({ url, allowPrivateNetworks: true, bearerTokenSecret: 'fax-api-token', ...extra });

const secrets = { 'fax-api-token': BEARER };

/** An HTTPS receiver with the fixture `name` (name.pem, name-key.pem). */
const receiverWith = (name: string, host?: string) => startReceiver({ tls: { cert: read(`${name}.pem`), key: read(`${name}-key.pem`) }, host });

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

describe('server name (SNI)', () => {
  it('a host name URL (https://localhost) sends it as the server name', async () => {
    const receiver = await serve('server');
    await httpForwardConnector.deliver(job(), forward(receiver.url.replace('127.0.0.1', 'localhost')), context(secrets).ctx);
    expect(receiver.received).toEqual([expect.objectContaining({ servername: 'localhost' })]);
  });
});
