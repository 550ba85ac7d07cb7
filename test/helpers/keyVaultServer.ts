/**
 * A small local Azure Key Vault (secrets only) for tests, speaking the documented REST protocol
 * closely enough that the real @azure/keyvault-secrets SecretClient can be pointed at it:
 *
 * - HTTPS only, with the test certificate in test/fixtures/tls (the process must trust
 *   test/fixtures/tls/ca.pem: `npm test` sets NODE_EXTRA_CA_CERTS);
 * - every request needs the `api-version` query parameter (400 otherwise);
 * - a request without a bearer token gets 401 with the challenge
 *   `WWW-Authenticate: Bearer authorization="https://login.microsoftonline.com/<tenant>", resource="https://vault.azure.net"`,
 *   which the SDK's challenge-based authentication answers by asking its credential for a token
 *   for `https://vault.azure.net/.default` and sending the request again; a wrong token gets 401 too;
 * - GET /secrets/{name}[/{version}] answers 200 with a SecretBundle `{ value, id, attributes }`
 *   or 404 `{ error: { code: 'SecretNotFound', message } }`;
 * - PUT /secrets/{name} with `{ value, contentType?, tags?, attributes? }` creates a new version.
 *
 * Every request is recorded (method, path, api-version, how it was authenticated, status) so tests
 * can see what the SDK really sent.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';

export const TLS_DIR = join(__dirname, '..', 'fixtures', 'tls');
export const VAULT_RESOURCE = 'https://vault.azure.net';

export interface KeyVaultServerOptions {
  /** The one bearer token the vault accepts. */
  token: string;
  /** The tenant named in the challenge; a fixed test GUID by default. */
  tenantId?: string;
  /** Secrets present from the start, name → value. */
  secrets?: Record<string, string>;
}

export interface RecordedRequest {
  method: string;
  /** The path, without the query string. */
  path: string;
  apiVersion: string | null;
  /** 'none' (no Authorization header), 'bearer' (the right token) or 'invalid' (anything else). */
  auth: 'none' | 'bearer' | 'invalid';
  status: number;
}

interface SecretVersion {
  version: string;
  value: string;
  contentType?: string;
  tags?: Record<string, string>;
  enabled: boolean;
  created: number;
  updated: number;
}

export interface KeyVaultTestServer {
  /** The vault URL to give SecretClient: https://localhost:<port>. */
  url: string;
  port: number;
  tenantId: string;
  /** The WWW-Authenticate challenge the vault sends. */
  challenge: string;
  /** Every request received, in order. */
  requests: RecordedRequest[];
  /** Creates a new version of a secret directly (as if someone set it in the portal). */
  putSecret(name: string, value: string): void;
  /** The latest value of a secret, straight from the vault's memory. */
  secretValue(name: string): string | undefined;
  close(): Promise<void>;
}

const SECRET_NAME = /^[0-9a-zA-Z-]{1,127}$/;

export async function startKeyVaultServer(options: KeyVaultServerOptions): Promise<KeyVaultTestServer> {
  const tenantId = options.tenantId ?? '72f988bf-86f1-41af-91ab-2d7cd011db47';
  const challenge = `Bearer authorization="https://login.microsoftonline.com/${tenantId}", resource="${VAULT_RESOURCE}"`;
  const requests: RecordedRequest[] = [];
  // Key Vault secret names are case-insensitive: keyed by the lower-cased name.
  const vault = new Map<string, { name: string; versions: SecretVersion[] }>();
  let url = '';

  const putSecret = (name: string, value: string, extra: Partial<SecretVersion> = {}): SecretVersion => {
    const now = Math.floor(Date.now() / 1000);
    const entry = vault.get(name.toLowerCase()) ?? { name, versions: [] };
    const version: SecretVersion = {
      version: randomBytes(16).toString('hex'),
      value,
      enabled: true,
      created: now,
      updated: now,
      ...extra,
    };
    entry.versions.push(version);
    vault.set(name.toLowerCase(), entry);
    return version;
  };
  for (const [name, value] of Object.entries(options.secrets ?? {})) putSecret(name, value);

  const bundle = (name: string, v: SecretVersion) => ({
    value: v.value,
    id: `${url}/secrets/${name}/${v.version}`,
    ...(v.contentType !== undefined ? { contentType: v.contentType } : {}),
    ...(v.tags !== undefined ? { tags: v.tags } : {}),
    attributes: {
      enabled: v.enabled,
      created: v.created,
      updated: v.updated,
      recoveryLevel: 'Recoverable+Purgeable',
      recoverableDays: 90,
    },
  });

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const requestUrl = new URL(req.url ?? '/', 'https://localhost');
    const method = (req.method ?? 'GET').toUpperCase();
    const authorization = req.headers.authorization;
    const record: RecordedRequest = {
      method,
      path: requestUrl.pathname,
      apiVersion: requestUrl.searchParams.get('api-version'),
      auth: authorization === undefined ? 'none' : authorization === `Bearer ${options.token}` ? 'bearer' : 'invalid',
      status: 0,
    };
    requests.push(record);
    const body = await readBody(req);
    const send = (status: number, json?: unknown, headers: Record<string, string> = {}) => {
      record.status = status;
      const text = json === undefined ? '' : JSON.stringify(json);
      res.writeHead(status, {
        ...(json === undefined ? {} : { 'content-type': 'application/json; charset=utf-8' }),
        'content-length': String(Buffer.byteLength(text)),
        'x-ms-keyvault-service-version': '1.9.0.0',
        ...headers,
      });
      res.end(text);
    };
    const error = (status: number, code: string, message: string, headers?: Record<string, string>) =>
      send(status, { error: { code, message } }, headers);

    if (!record.apiVersion) {
      return error(400, 'BadParameter', 'The api-version query parameter (?api-version=) is required for all requests.');
    }
    if (record.auth === 'none') {
      return error(401, 'Unauthorized', 'AKV10000: Request is missing a Bearer or PoP token.', {
        'www-authenticate': challenge,
      });
    }
    if (record.auth === 'invalid') {
      return error(401, 'Unauthorized', 'AKV10022: Invalid audience or token.', { 'www-authenticate': challenge });
    }

    // /secrets/{name} or /secrets/{name}/ or /secrets/{name}/{version}
    const m = /^\/secrets\/([^/]+)(?:\/([^/]*))?$/.exec(requestUrl.pathname);
    if (!m) return error(404, 'NotFound', `No such operation: ${method} ${requestUrl.pathname}`);
    const name = decodeURIComponent(m[1]!);
    const version = m[2] ? decodeURIComponent(m[2]) : '';
    if (!SECRET_NAME.test(name)) {
      return error(400, 'BadParameter', 'Secret names may only contain alphanumeric characters and dashes.');
    }

    if (method === 'GET') {
      const entry = vault.get(name.toLowerCase());
      const v = version ? entry?.versions.find((x) => x.version === version) : entry?.versions.at(-1);
      if (!entry || !v) {
        const what = version ? `A secret with (name/id) ${name}/${version}` : `A secret with (name/id) ${name}`;
        return error(404, 'SecretNotFound', `${what} was not found in this key vault.`);
      }
      if (!v.enabled) return error(403, 'Forbidden', 'Operation get is not allowed on a disabled secret.');
      return send(200, bundle(entry.name, v));
    }

    if (method === 'PUT') {
      if (version) return error(405, 'BadParameter', 'Secrets are set without a version.');
      if (!/^application\/json/i.test(req.headers['content-type'] ?? '')) {
        return error(415, 'BadParameter', 'The request body must be application/json.');
      }
      let parsed: { value?: unknown; contentType?: unknown; tags?: unknown; attributes?: { enabled?: unknown } };
      try {
        parsed = JSON.parse(body.toString('utf8')) as typeof parsed;
      } catch {
        return error(400, 'BadParameter', 'The request body is not valid JSON.');
      }
      if (typeof parsed?.value !== 'string') return error(400, 'BadParameter', 'Property value is required.');
      const v = putSecret(name, parsed.value, {
        ...(typeof parsed.contentType === 'string' ? { contentType: parsed.contentType } : {}),
        ...(parsed.tags && typeof parsed.tags === 'object' ? { tags: parsed.tags as Record<string, string> } : {}),
        ...(typeof parsed.attributes?.enabled === 'boolean' ? { enabled: parsed.attributes.enabled } : {}),
      });
      return send(200, bundle(vault.get(name.toLowerCase())!.name, v));
    }

    return error(405, 'MethodNotAllowed', `${method} is not supported on ${requestUrl.pathname} by this test vault.`);
  };

  const server: Server = createServer(
    {
      cert: readFileSync(join(TLS_DIR, 'server.pem')),
      key: readFileSync(join(TLS_DIR, 'server-key.pem')),
    },
    (req, res) => {
      handle(req, res).catch((err: unknown) => {
        if (!res.headersSent) {
          res.writeHead(500, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ error: { code: 'InternalError', message: String((err as Error)?.message) } }));
        } else {
          res.destroy();
        }
      });
    },
  );
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  url = `https://localhost:${port}`;

  return {
    url,
    port,
    tenantId,
    challenge,
    requests,
    putSecret: (name, value) => void putSecret(name, value),
    secretValue: (name) => vault.get(name.toLowerCase())?.versions.at(-1)?.value,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}
