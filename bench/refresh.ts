/**
 * Token refresh of many connections: 2,000 authorized connections against the local
 * Entra-style OIDC server (HTTPS, loopback) and Azurite, refreshed as the timer does. MSAL's HTTP
 * calls are timed through its network-client hook, so the time each refresh spends waiting for
 * the identity server is reported apart from the time spent in ScanRelay (MSAL's cache work,
 * decryption and encryption, table round trips).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { INetworkModule, NetworkRequestOptions, NetworkResponse } from '@azure/msal-node';
import { startAzurite } from '../host/local/azurite';
import { loadConfig } from '../shared/config';
import { forEachLimited } from '../shared/concurrency';
import { silentLogger } from '../shared/log';
import {
  completeAuthorization,
  createOAuthDeps,
  isDue,
  newKeyRingSecret,
  refreshConnection,
  startAuthorization,
  CONNECTION_TYPES,
} from '../shared/oauth';
import { createSecretStore } from '../shared/secrets';
import { createStorage } from '../shared/storage';
import { startOidcServer } from '../test/helpers/oidcServer';

export interface RefreshFigures {
  connections: number;
  concurrency: number;
  wallMs: number;
  perSecond: number;
  /** Mean per connection: the whole refresh, the part waiting for the identity server, the rest. */
  meanMs: number;
  meanIdpMs: number;
  meanScanRelayMs: number;
  p95Ms: number;
  cpuMsPerConnection: number;
  refreshed: number;
  failed: number;
}

const CLIENT_ID = '3f1c2b7a-9d4e-4c8a-a1b2-0c9d8e7f6a5b';
const BASE = 'https://scanrelay.bench';

/** MSAL's HTTP calls through fetch, timed. */
class TimingNetworkClient implements INetworkModule {
  /** Time spent waiting in the current async context's calls is added here by the caller. */
  waitedMs = 0;

  async sendGetRequestAsync<T>(url: string, options?: NetworkRequestOptions): Promise<NetworkResponse<T>> {
    return this.send<T>(url, 'GET', options);
  }

  async sendPostRequestAsync<T>(url: string, options?: NetworkRequestOptions): Promise<NetworkResponse<T>> {
    return this.send<T>(url, 'POST', options);
  }

  private async send<T>(url: string, method: string, options?: NetworkRequestOptions): Promise<NetworkResponse<T>> {
    const started = performance.now();
    try {
      const res = await fetch(url, { method, headers: options?.headers, body: method === 'POST' ? options?.body : undefined });
      const body = (await res.json()) as T;
      return { headers: Object.fromEntries(res.headers), body, status: res.status };
    } finally {
      this.waitedMs += performance.now() - started;
    }
  }
}

export async function runRefreshBench(log: (line: string) => void, count = 2000, concurrency = 16): Promise<RefreshFigures> {
  const azurite = await startAzurite();
  const idp = await startOidcServer({
    clients: [
      {
        clientId: CLIENT_ID,
        clientSecret: 'bench-secret',
        redirectUris: CONNECTION_TYPES.map((t) => `${BASE}/api/oauth2/client/${t}/authorize-callback`),
      },
    ],
  });
  const dir = mkdtempSync(join(tmpdir(), 'scanrelay-refresh-'));
  try {
    const secretsFile = join(dir, 'secrets.json');
    writeFileSync(secretsFile, JSON.stringify({ 'oauth-client-secret': 'bench-secret', 'token-encryption-keys': newKeyRingSecret('k1') }));
    const config = loadConfig({
      AzureWebJobsStorage: azurite.connectionString,
      SECRETS_LOCAL_FILE: secretsFile,
      OAUTH_AUTHORITY_HOST: idp.baseUrl,
      OAUTH_CLIENT_ID: CLIENT_ID,
      PUBLIC_BASE_URL: BASE,
    });
    const storage = createStorage(config.storage);
    const network = new TimingNetworkClient();
    const deps = createOAuthDeps(config.oauth, createSecretStore(config.secrets), storage, { networkClient: network })(silentLogger);

    // One real authorization; its tokens are then given to every connection (re-sealed for each row).
    log(`refresh bench: authorizing a template connection and creating ${count} connections`);
    await storage.connections.create({ id: 'template', type: 'smtpMicrosoft', tenant: 'organizations', displayName: 'template' });
    const url = await startAuthorization(deps, { kind: 'key' }, 'template');
    const back = new URL((await fetch(url, { redirect: 'manual' })).headers.get('location')!);
    const outcome = await completeAuthorization(deps, 'smtpMicrosoft', Object.fromEntries(back.searchParams));
    if (!outcome.ok) throw new Error(`template authorization failed: ${outcome.message}`);
    const cache = await deps.cipher.decrypt((await storage.tokenCaches.read('template'))!.sealed, 'tokencache:template');
    const template = outcome.connection;
    const ids = Array.from({ length: count }, (_, i) => `bench-${i}`);
    await forEachLimited(ids, 32, async (id) => {
      const c = await storage.connections.create({ id, type: 'smtpMicrosoft', tenant: 'organizations', displayName: id });
      await storage.connections.update(c, {
        state: 'authorized',
        account: template.account,
        grantedScopes: template.grantedScopes,
        lastRefreshAt: new Date(),
      });
      await storage.tokenCaches.write(id, await deps.cipher.encrypt(cache, `tokencache:${id}`), undefined);
    });

    const later = new Date(Date.now() + 25 * 3600_000);
    const due = (await storage.connections.list()).filter((c) => c.id !== 'template' && isDue(c, config.oauth, later));
    log(`refresh bench: refreshing ${due.length} due connections, ${concurrency} at a time`);
    const durations: number[] = [];
    let idpMs = 0;
    let refreshed = 0;
    let failed = 0;
    network.waitedMs = 0;
    const cpu = process.cpuUsage();
    const began = performance.now();
    await forEachLimited(due, concurrency, async (c) => {
      const t0 = performance.now();
      const outcome = await refreshConnection(deps, c, later);
      durations.push(performance.now() - t0);
      if (outcome === 'refreshed') refreshed++;
      else failed++;
    });
    const wallMs = performance.now() - began;
    idpMs = network.waitedMs;
    const used = process.cpuUsage(cpu);
    durations.sort((a, b) => a - b);
    const meanMs = durations.reduce((a, b) => a + b, 0) / durations.length;
    const meanIdpMs = idpMs / durations.length;
    return {
      connections: due.length,
      concurrency,
      wallMs,
      perSecond: (due.length / wallMs) * 1000,
      meanMs,
      meanIdpMs,
      meanScanRelayMs: meanMs - meanIdpMs,
      p95Ms: durations[Math.floor(durations.length * 0.95)]!,
      cpuMsPerConnection: (used.user + used.system) / 1000 / due.length,
      refreshed,
      failed,
    };
  } finally {
    await idp.stop();
    await azurite.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

export function refreshMarkdown(f: RefreshFigures): string {
  const ms = (v: number) => v.toFixed(1);
  return [
    '## Token refresh of many connections',
    '',
    `${f.connections} authorized connections refreshed as the \`refreshTokens\` timer does (forced refresh with`,
    `MSAL, the cache decrypted and re-encrypted, ETag-guarded table writes, the connection row updated), ${f.concurrency} at a time,`,
    'against the local Entra-style OIDC server over HTTPS on loopback and Azurite (in memory). The time a refresh',
    "waits for the identity server is measured around MSAL's HTTP calls (its network-client hook); the rest is",
    "ScanRelay's own (MSAL's cache work, AES-GCM, table round trips). The same process runs the OIDC server,",
    "so the identity server's CPU is in the CPU figure too.",
    '',
    '| Figure | Value |',
    '|---|---:|',
    `| Connections refreshed / failed | ${f.refreshed} / ${f.failed} |`,
    `| Wall time (s) | ${(f.wallMs / 1000).toFixed(1)} |`,
    `| Connections per second | ${f.perSecond.toFixed(1)} |`,
    `| Mean time per connection (ms) | ${ms(f.meanMs)} |`,
    `| … waiting for the identity server (ms) | ${ms(f.meanIdpMs)} |`,
    `| … in ScanRelay: cache, encryption, table round trips (ms) | ${ms(f.meanScanRelayMs)} |`,
    `| 95th percentile per connection (ms) | ${ms(f.p95Ms)} |`,
    `| CPU per connection, whole process (ms) | ${ms(f.cpuMsPerConnection)} |`,
    '',
  ].join('\n');
}
