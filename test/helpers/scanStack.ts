/** A running local host over a test stack, plus ways to look at what it stored. */
import { startLocalServer, type LocalServer, type LocalServerOptions } from '../../host/local/server';
import { registry } from '../../host/registry';
import { startTriggers, type TriggerRunner } from '../../host/local/triggers';
import { DELIVERY_MAX_ATTEMPTS } from '../../shared/delivery';
import { setServices } from '../../shared/services';
import { SCAN_CONTAINER, SCAN_JOBS_TABLE, INGEST_LEASES_TABLE, DELIVERY_QUEUE, type DeliveryMessage } from '../../shared/storage';
import { startStack, type TestStack } from './env';
import { decodeMessage } from './queue';

export interface ScanHost extends TestStack {
  server: LocalServer;
  scanUrl: string;
  snapshot(): Promise<StoredState>;
  /** Resolves once the local host has finished `count` requests in all (answered or not). */
  requestsFinished(count: number): Promise<void>;
  /** How many requests the local host has finished so far. */
  finished(): number;
  /** Runs the `deliver` queue trigger as the local host does (quietly, polling fast); stop it after. */
  startDelivering(): TriggerRunner;
  /** The lines the host logged other than its request lines (function logs), oldest first. */
  logged(): string[];
}

export interface StoredState {
  blobs: string[];
  jobs: Array<Record<string, unknown>>;
  messages: DeliveryMessage[];
  /** Requests holding an ingest lease (in flight, or dead and not swept yet). */
  leases: string[];
}

const hosts: Array<ScanHost['services']> = [];

export async function startScanHost(
  /** The app's settings; a function of the host's URL when they name it (PUBLIC_BASE_URL). */
  settings: Record<string, string> | ((hostUrl: string) => Record<string, string>) = {},
  serverOptions: Pick<LocalServerOptions, 'minBodyRate'> = {},
): Promise<ScanHost> {
  let finished = 0;
  const logged: string[] = [];
  const waiters: Array<{ count: number; resolve: () => void }> = [];
  // The server first (its functions find the services when a request comes), so that its URL can be a setting.
  const server = await startLocalServer({
    registry,
    port: 0,
    ...serverOptions,
    // The host writes one line per finished request, `<METHOD> <path> -> <status> (<ms> ms)`.
    log: (line) => {
      if (!/^[A-Z]+ \S+ -> \d+ \(\d+ ms\)$/.test(line)) {
        logged.push(line);
        if (logged.length > 2000) logged.shift();
        return;
      }
      finished++;
      for (const w of waiters.filter((w) => finished >= w.count)) w.resolve();
    },
  });
  const stack: TestStack = await startStack(typeof settings === 'function' ? settings(server.url) : settings);
  // Hosts may nest (a test starts a second one): stopping one gives the process back the one before.
  hosts.push(stack.services);
  setServices(stack.services);
  const { clients } = stack.services.storage;
  return {
    ...stack,
    server,
    scanUrl: `${server.url}/api/scan`,
    finished: () => finished,
    logged: () => [...logged],
    startDelivering: () =>
      startTriggers(
        registry.filter((f) => f.name === 'deliver'),
        (name) => clients.queue(name),
        { maxDequeueCount: DELIVERY_MAX_ATTEMPTS, visibilityTimeoutSeconds: 0, batchSize: 4, pollIntervalMs: 100 },
        () => undefined,
      ),
    requestsFinished: (count) => (finished >= count ? Promise.resolve() : new Promise<void>((resolve) => waiters.push({ count, resolve }))),
    snapshot: async () => {
      const container = clients.container(SCAN_CONTAINER);
      await container.createIfNotExists();
      const blobs: string[] = [];
      for await (const b of container.listBlobsFlat()) blobs.push(b.name);
      const table = clients.table(SCAN_JOBS_TABLE);
      await table.createTable();
      const jobs: Array<Record<string, unknown>> = [];
      for await (const e of table.listEntities()) jobs.push(e);
      const queue = clients.queue(DELIVERY_QUEUE);
      await queue.createIfNotExists();
      const peeked = await queue.peekMessages({ numberOfMessages: 32 });
      const leaseTable = clients.table(INGEST_LEASES_TABLE);
      await leaseTable.createTable();
      const leases: string[] = [];
      for await (const e of leaseTable.listEntities()) leases.push(e.partitionKey!);
      return { blobs: blobs.sort(), jobs, messages: peeked.peekedMessageItems.map((m) => decodeMessage(m.messageText)), leases };
    },
    stop: async () => {
      await server.close();
      hosts.splice(hosts.lastIndexOf(stack.services), 1);
      setServices(hosts[hosts.length - 1]);
      await stack.stop();
    },
  };
}
