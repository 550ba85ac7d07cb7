/** A running local host over a test stack, plus ways to look at what it stored. */
import { startLocalServer, type LocalServer } from '../../host/local/server';
import { registry } from '../../host/registry';
import { setServices } from '../../shared/services';
import { SCAN_CONTAINER, SCAN_JOBS_TABLE, decodeMessage, DELIVERY_QUEUE, type DeliveryMessage } from '../../shared/storage';
import { startStack, type TestStack } from './env';

export interface ScanHost extends TestStack {
  server: LocalServer;
  scanUrl: string;
  snapshot(): Promise<StoredState>;
}

export interface StoredState {
  blobs: string[];
  jobs: Array<Record<string, unknown>>;
  messages: DeliveryMessage[];
}

export async function startScanHost(settings: Record<string, string> = {}): Promise<ScanHost> {
  const stack = await startStack(settings);
  setServices(stack.services);
  const server = await startLocalServer({
    registry,
    port: 0,
    log: () => undefined,
    adminKey: () => stack.services.secrets.tryGet('admin-key'),
  });
  const { clients } = stack.services.storage;
  return {
    ...stack,
    server,
    scanUrl: `${server.url}/api/scan`,
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
      return { blobs: blobs.sort(), jobs, messages: peeked.peekedMessageItems.map((m) => decodeMessage(m.messageText)) };
    },
    stop: async () => {
      await server.close();
      setServices(undefined);
      await stack.stop();
    },
  };
}
