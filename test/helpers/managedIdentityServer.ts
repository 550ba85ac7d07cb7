/**
 * A local managed identity endpoint speaking App Service's protocol, the one `@azure/identity`'s
 * ManagedIdentityCredential uses when IDENTITY_ENDPOINT and IDENTITY_HEADER are set
 * (https://learn.microsoft.com/azure/app-service/overview-managed-identity#rest-endpoint-reference):
 *
 *   GET <IDENTITY_ENDPOINT>?api-version=2019-08-01&resource=<resource>&client_id=<client id>
 *   X-IDENTITY-HEADER: <IDENTITY_HEADER>
 *   → 200 { access_token, expires_on, resource, token_type: 'Bearer', client_id }
 *
 * The tokens are signed by the test OIDC server (`issueManagedIdentityToken`): issuer = the
 * identity's tenant there, `sub` = the identity's object ID, `aud` = the resource. A wrong or
 * missing header answers 401, an unknown client ID 400, as the platform's endpoint does.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';
import type { ManagedIdentityRecord, OidcServer } from './oidcServer';

export interface ManagedIdentityRequestRecord {
  at: Date;
  /** The query parameters as sent. */
  params: Record<string, string>;
  /** Whether X-IDENTITY-HEADER carried the secret. */
  headerOk: boolean;
  status: number;
}

export interface ManagedIdentityServer {
  /** http://127.0.0.1:<port>/msi/token, the value of IDENTITY_ENDPOINT. */
  readonly endpoint: string;
  /** The value of IDENTITY_HEADER. */
  readonly header: string;
  readonly identities: ManagedIdentityRecord[];
  readonly requests: ManagedIdentityRequestRecord[];
  /** Lifetime of the tokens it issues, in seconds (24 hours, as in Azure, by default). */
  tokenLifetimeSeconds: number;
  /** Sets IDENTITY_ENDPOINT and IDENTITY_HEADER in process.env; returns a function restoring them. */
  useInProcessEnv(): () => void;
  stop(): Promise<void>;
}

export async function startManagedIdentityServer(idp: OidcServer, identities: ManagedIdentityRecord[]): Promise<ManagedIdentityServer> {
  const header = randomBytes(16).toString('hex');
  const requests: ManagedIdentityRequestRecord[] = [];
  const send = (res: ServerResponse, status: number, body: unknown) => {
    res.writeHead(status, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify(body));
  };
  const handle = (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const params = Object.fromEntries(url.searchParams);
    const record: ManagedIdentityRequestRecord = {
      at: new Date(),
      params,
      headerOk: req.headers['x-identity-header'] === header,
      status: 0,
    };
    requests.push(record);
    const answer = (status: number, body: unknown) => {
      record.status = status;
      send(res, status, body);
    };
    if (req.method !== 'GET' || url.pathname !== '/msi/token') return answer(404, { error: 'not_found' });
    if (!record.headerOk) return answer(401, { statusCode: 401, message: 'Unauthorized: the X-IDENTITY-HEADER is missing or wrong.' });
    if (params['api-version'] !== '2019-08-01')
      return answer(400, { statusCode: 400, message: `Unsupported api-version '${params['api-version'] ?? ''}'.` });
    const resource = params.resource;
    if (!resource) return answer(400, { statusCode: 400, message: 'The resource parameter is required.' });
    const identity = params.client_id
      ? identities.find((i) => i.clientId === params.client_id)
      : params.principal_id
        ? identities.find((i) => i.objectId === params.principal_id)
        : identities[0];
    if (!identity) {
      return answer(400, {
        statusCode: 400,
        message: 'No User Assigned or Delegated Managed Identity found for specified ClientId/ResourceId/PrincipalId.',
      });
    }
    const { token, expiresOn } = idp.issueManagedIdentityToken(identity, resource, server.tokenLifetimeSeconds);
    return answer(200, {
      access_token: token,
      expires_on: String(expiresOn),
      resource,
      token_type: 'Bearer',
      client_id: identity.clientId,
    });
  };
  const http = createServer(handle);
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  const endpoint = `http://127.0.0.1:${(http.address() as AddressInfo).port}/msi/token`;
  const server: ManagedIdentityServer = {
    endpoint,
    header,
    identities,
    requests,
    tokenLifetimeSeconds: 86_400,
    useInProcessEnv() {
      const saved = { IDENTITY_ENDPOINT: process.env.IDENTITY_ENDPOINT, IDENTITY_HEADER: process.env.IDENTITY_HEADER };
      process.env.IDENTITY_ENDPOINT = endpoint;
      process.env.IDENTITY_HEADER = header;
      return () => {
        for (const [k, v] of Object.entries(saved)) {
          if (v === undefined) delete process.env[k];
          else process.env[k] = v;
        }
      };
    },
    stop: () =>
      new Promise<void>((resolve) => {
        http.close(() => resolve());
        http.closeAllConnections();
      }),
  };
  return server;
}
