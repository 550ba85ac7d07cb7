/**
 * The app's wiring: configuration, secret store and storage, created once per process on
 * first use and shared by every function.
 */
import { getConfig, type Config } from '../config';
import { CONNECTORS, loadDestinations, type DelivererDeps, type Destination } from '../delivery';
import type { IngestDeps, SweepDeps } from '../ingest';
import type { Logger } from '../log';
import { createOAuthDeps, getAccessToken, type OAuthDeps } from '../oauth';
import type { ScimDeps } from '../scim';
import { createSecretStore, type SecretStore } from '../secrets';
import { createStorage, type Storage } from '../storage';

export interface Services {
  config: Config;
  secrets: SecretStore;
  storage: Storage;
  ingestDeps(log: Logger): IngestDeps;
  sweepDeps(log: Logger): SweepDeps;
  oauthDeps(log: Logger): OAuthDeps;
  /** The destinations, read and validated on first use. */
  destinations(): readonly Destination[];
  delivererDeps(log: Logger): DelivererDeps;
  scimDeps(log: Logger): ScimDeps;
}

export function createServices(config: Config): Services {
  const secrets = createSecretStore(config.secrets);
  const storage = createStorage(config.storage);
  const oauthDeps = createOAuthDeps(config.oauth, secrets, storage);
  let destinations: readonly Destination[] | undefined;
  const loadedDestinations = () => (destinations ??= loadDestinations(config.delivery.destinationsFile, CONNECTORS));
  return {
    config,
    secrets,
    storage,
    ingestDeps: (log) => ({
      scanBlobs: storage.scanBlobs,
      scanJobs: storage.scanJobs,
      ingestLeases: storage.ingestLeases,
      deliveryQueue: storage.deliveryQueue,
      secrets,
      limits: config.scan.limits,
      sharedSecretField: config.scan.sharedSecretField,
      leaseMs: config.scan.leaseMs,
      log,
    }),
    sweepDeps: (log) => ({
      ingestLeases: storage.ingestLeases,
      scanJobs: storage.scanJobs,
      scanBlobs: storage.scanBlobs,
      leaseMs: config.scan.leaseMs,
      log,
    }),
    oauthDeps,
    destinations: loadedDestinations,
    delivererDeps: (log) => ({
      scanJobs: storage.scanJobs,
      scanBlobs: storage.scanBlobs,
      deliveries: storage.deliveries,
      destinations: loadedDestinations(),
      context: {
        getAccessToken: async (connectionId, options) => (await getAccessToken(oauthDeps(log), connectionId, options)).accessToken,
        getApplicationToken: (resource, options) => oauthDeps(log).applicationTokens.get(resource, options?.forceRefresh),
        graphBaseUrl: config.delivery.graphBaseUrl,
        getSecret: (name) => secrets.get(name),
      },
      findUser: (userName) => storage.directory.users.findByUserName(userName),
      log,
    }),
    scimDeps: (log) => ({ directory: storage.directory, secrets, config: config.directory, log }),
  };
}

let services: Services | undefined;

export function getServices(): Services {
  services ??= createServices(getConfig());
  return services;
}

/** Replaces the process's services (tests), or forgets them with `undefined`. */
export function setServices(replacement: Services | undefined): void {
  services = replacement;
}
