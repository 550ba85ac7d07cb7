/**
 * A small local Azure Key Vault (secrets and RSA keys) for tests, speaking the documented REST protocol
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
 * Keys (https://learn.microsoft.com/rest/api/keyvault/keys/): RSA keys made with node:crypto whose
 * private part never leaves the server.
 * - POST /keys/{name}/create `{ kty: 'RSA', key_size?, key_ops? }` creates the key or a new version
 *   of it (Create Key), POST /keys/{name}/rotate makes a new version (Rotate Key);
 * - GET /keys/{name}[/{version}] answers a KeyBundle `{ key: { kid, kty, key_ops, n, e }, attributes }`
 *   (public part only) or 404 KeyNotFound;
 * - POST /keys/{name}/{version}/wrapkey and /unwrapkey `{ alg, value }` answer `{ kid, value }`
 *   (RSA-OAEP-256 and RSA-OAEP, base64url), 400 for a bad value, 403 Forbidden (ForbiddenByRbac) when
 *   the caller's permissions (`setKeyPermissions`, all by default) leave the operation out.
 *
 * Every request is recorded (method, path, api-version, how it was authenticated, status) so tests
 * can see what the SDK really sent.
 */
import { constants, generateKeyPairSync, privateDecrypt, publicEncrypt, randomBytes, type KeyObject } from 'node:crypto';
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
  /** RSA keys present from the start (one version each). */
  keys?: string[];
}

/** What the caller may do with keys (data actions of the Key Vault roles). */
export type KeyPermission = 'get' | 'create' | 'wrapKey' | 'unwrapKey';

export interface RecordedRequest {
  method: string;
  /** The path, without the query string. */
  path: string;
  apiVersion: string | null;
  /** 'none' (no Authorization header), 'bearer' (the right token) or 'invalid' (anything else). */
  auth: 'none' | 'bearer' | 'invalid';
  status: number;
}

/** A request with its bodies (to check what a client gives away and what the vault answered). */
export interface RecordedExchange {
  request: RecordedRequest;
  /** The request body as sent. */
  body: string;
  /** The response body. */
  response: string;
}

interface KeyVersionEntry {
  version: string;
  publicKey: KeyObject;
  privateKey: KeyObject;
  keyOps: string[];
  enabled: boolean;
  created: number;
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
  /** The same requests with their request and response bodies. */
  exchanges: RecordedExchange[];
  /** Creates a new version of a secret directly (as if someone set it in the portal). */
  putSecret(name: string, value: string): void;
  /** The latest value of a secret, straight from the vault's memory. */
  secretValue(name: string): string | undefined;
  /** Creates an RSA key, or a new version of it (as the rotation policy does); answers the version. */
  rotateKey(name: string): string;
  /** The versions of a key, oldest first. */
  keyVersions(name: string): string[];
  /** What the caller may do with keys from now on (all of them until set). */
  setKeyPermissions(permissions: KeyPermission[]): void;
  close(): Promise<void>;
}

const SECRET_NAME = /^[0-9a-zA-Z-]{1,127}$/;

export async function startKeyVaultServer(options: KeyVaultServerOptions): Promise<KeyVaultTestServer> {
  const tenantId = options.tenantId ?? '72f988bf-86f1-41af-91ab-2d7cd011db47';
  const challenge = `Bearer authorization="https://login.microsoftonline.com/${tenantId}", resource="${VAULT_RESOURCE}"`;
  const requests: RecordedRequest[] = [];
  const exchanges: RecordedExchange[] = [];
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

  const keyStore = new Map<string, { name: string; versions: KeyVersionEntry[] }>();
  let keyPermissions = new Set<KeyPermission>(['get', 'create', 'wrapKey', 'unwrapKey']);
  const rotateKey = (name: string, keyOps = ['wrapKey', 'unwrapKey', 'encrypt', 'decrypt'], size = 2048): KeyVersionEntry => {
    const entry = keyStore.get(name.toLowerCase()) ?? { name, versions: [] };
    const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: size });
    const v: KeyVersionEntry = {
      version: randomBytes(16).toString('hex'),
      publicKey,
      privateKey,
      keyOps,
      enabled: true,
      created: Math.floor(Date.now() / 1000),
    };
    entry.versions.push(v);
    keyStore.set(name.toLowerCase(), entry);
    return v;
  };
  for (const name of options.keys ?? []) rotateKey(name);
  const keyBundle = (name: string, v: KeyVersionEntry) => {
    const jwk = v.publicKey.export({ format: 'jwk' });
    return {
      key: { kid: `${url}/keys/${name}/${v.version}`, kty: 'RSA', key_ops: v.keyOps, n: jwk.n, e: jwk.e },
      attributes: {
        enabled: v.enabled,
        created: v.created,
        updated: v.created,
        recoveryLevel: 'Recoverable+Purgeable',
        recoverableDays: 90,
        exportable: false,
      },
    };
  };
  const OAEP: Record<string, string> = { 'RSA-OAEP-256': 'sha256', 'RSA-OAEP': 'sha1' };

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
    const exchange: RecordedExchange = { request: record, body: '', response: '' };
    exchanges.push(exchange);
    requests.push(record);
    const body = await readBody(req);
    exchange.body = body.toString('utf8');
    const send = (status: number, json?: unknown, headers: Record<string, string> = {}) => {
      record.status = status;
      const text = json === undefined ? '' : JSON.stringify(json);
      exchange.response = text;
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

    if (requestUrl.pathname.startsWith('/keys/')) return handleKey(requestUrl.pathname, method, body, send, error);

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

  type Send = (status: number, json?: unknown) => void;
  type Fail = (status: number, code: string, message: string) => void;
  const forbidden = (fail: Fail, action: string) =>
    fail(
      403,
      'Forbidden',
      `Caller is not authorized to perform action on resource. Action: 'Microsoft.KeyVault/vaults/keys/${action}' (ForbiddenByRbac)`,
    );
  const handleKey = (path: string, method: string, body: Buffer, send: Send, fail: Fail): void => {
    // /keys/{name}[/{version}], /keys/{name}/create|rotate, /keys/{name}/{version}/wrapkey|unwrapkey
    const m = /^\/keys\/([^/]+)(?:\/([^/]*))?(?:\/([^/]+))?$/.exec(path);
    if (!m) return fail(404, 'NotFound', `No such operation: ${method} ${path}`);
    const name = decodeURIComponent(m[1]!);
    const second = m[2] ? decodeURIComponent(m[2]) : '';
    const op = m[3];
    if (!SECRET_NAME.test(name)) return fail(400, 'BadParameter', 'Key names may only contain alphanumeric characters and dashes.');
    let parsed: Record<string, unknown> = {};
    if (method === 'POST') {
      try {
        parsed = body.length ? (JSON.parse(body.toString('utf8')) as Record<string, unknown>) : {};
      } catch {
        return fail(400, 'BadParameter', 'The request body is not valid JSON.');
      }
    }
    if (method === 'POST' && !op && (second === 'create' || second === 'rotate')) {
      if (!keyPermissions.has('create')) return forbidden(fail, second === 'create' ? 'create/action' : 'rotate/action');
      if (second === 'rotate' && !keyStore.has(name.toLowerCase()))
        return fail(404, 'KeyNotFound', `A key with (name/id) ${name} was not found in this key vault.`);
      if (second === 'create' && parsed.kty !== 'RSA' && parsed.kty !== 'RSA-HSM')
        return fail(400, 'BadParameter', 'This test vault makes RSA keys only.');
      const ops = Array.isArray(parsed.key_ops) ? (parsed.key_ops as string[]) : undefined;
      const size = typeof parsed.key_size === 'number' ? parsed.key_size : undefined;
      const v = rotateKey(name, ops, size);
      return send(200, keyBundle(keyStore.get(name.toLowerCase())!.name, v));
    }
    const entry = keyStore.get(name.toLowerCase());
    const v = second ? entry?.versions.find((x) => x.version === second) : entry?.versions.at(-1);
    if (!entry || !v) {
      return fail(404, 'KeyNotFound', `A key with (name/id) ${second ? `${name}/${second}` : name} was not found in this key vault.`);
    }
    if (method === 'GET' && !op) {
      if (!keyPermissions.has('get')) return forbidden(fail, 'read');
      return send(200, keyBundle(entry.name, v));
    }
    if (method === 'POST' && (op === 'wrapkey' || op === 'unwrapkey')) {
      const permission = op === 'wrapkey' ? 'wrapKey' : 'unwrapKey';
      if (!keyPermissions.has(permission)) return forbidden(fail, `${op === 'wrapkey' ? 'wrap' : 'unwrap'}/action`);
      if (!v.enabled) return fail(403, 'Forbidden', `Operation ${permission} is not allowed on a disabled key.`);
      if (!v.keyOps.includes(permission)) return fail(403, 'Forbidden', `Operation ${permission} is not allowed on this key.`);
      const hash = OAEP[String(parsed.alg)];
      if (!hash) return fail(400, 'BadParameter', `Algorithm '${String(parsed.alg)}' is not supported by this test vault.`);
      if (typeof parsed.value !== 'string') return fail(400, 'BadParameter', 'Property value is required.');
      const input = Buffer.from(parsed.value, 'base64url');
      try {
        const out =
          op === 'wrapkey'
            ? publicEncrypt({ key: v.publicKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: hash }, input)
            : privateDecrypt({ key: v.privateKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: hash }, input);
        return send(200, { kid: `${url}/keys/${entry.name}/${v.version}`, value: out.toString('base64url') });
      } catch {
        return fail(400, 'BadParameter', 'The value could not be unwrapped with this key.');
      }
    }
    return fail(405, 'MethodNotAllowed', `${method} is not supported on ${path} by this test vault.`);
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
    exchanges,
    putSecret: (name, value) => void putSecret(name, value),
    secretValue: (name) => vault.get(name.toLowerCase())?.versions.at(-1)?.value,
    rotateKey: (name) => rotateKey(name).version,
    keyVersions: (name) => keyStore.get(name.toLowerCase())?.versions.map((v) => v.version) ?? [],
    setKeyPermissions: (permissions) => void (keyPermissions = new Set(permissions)),
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
