/**
 * The Microsoft Graph client's TLS: a GRAPH_BASE_URL (or upload URL) whose server certificate
 * fails verification is a configuration error, permanent at once and naming the certificate,
 * against a real HTTPS server on loopback; a server that cannot be reached stays transient.
 */
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { DeliveryGraph } from '../../shared/delivery/graph/client';
import { GraphClient } from '../../shared/graph';
import { PermanentDeliveryError, TransientDeliveryError } from '../../shared/delivery/types';

const TLS_DIR = join(__dirname, '..', 'fixtures', 'tls');
const read = (name: string) => readFileSync(join(TLS_DIR, name), 'utf8');
const TOKEN = 'graph-access-token-5b1e';

let server: Server;
let baseUrl: string;
let requests = 0;

beforeAll(async () => {
  server = createServer({ cert: read('self-signed.pem'), key: read('self-signed-key.pem') }, (_req, res) => {
    requests++;
    res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
  });
  server.on('tlsClientError', () => undefined);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  baseUrl = `https://127.0.0.1:${(server.address() as AddressInfo).port}/v1.0`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

it('a Graph endpoint whose certificate fails verification is permanent at once, naming the certificate; no request reaches it', async () => {
  const client = new DeliveryGraph(new GraphClient({ baseUrl, token: async () => TOKEN }));
  const err = await client.request('/me/drive').catch((e: unknown) => e);
  expect(err).toBeInstanceOf(PermanentDeliveryError);
  const message = (err as Error).message;
  const where = new URL(baseUrl).host;
  expect(message).toContain(
    `Microsoft Graph at ${where}: the TLS certificate of ${where} was refused: it is self-signed and not trusted (DEPTH_ZERO_SELF_SIGNED_CERT)`,
  );
  expect(message).toContain('subject "CN=localhost", issuer "CN=localhost"');
  expect(message).toMatch(/NODE_EXTRA_CA_CERTS/);
  expect(message).not.toContain(TOKEN);
  expect(requests).toBe(0);
});

it('an unreachable Graph endpoint is still transient', async () => {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const port = (probe.address() as AddressInfo).port;
  await new Promise((resolve) => probe.close(resolve));
  const client = new DeliveryGraph(new GraphClient({ baseUrl: `https://127.0.0.1:${port}/v1.0`, token: async () => TOKEN }));
  await expect(client.request('/me/drive')).rejects.toThrow(TransientDeliveryError);
});
