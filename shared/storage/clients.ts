import { DefaultAzureCredential, type TokenCredential } from '@azure/identity';
import { TableClient } from '@azure/data-tables';
import { BlobServiceClient, type ContainerClient } from '@azure/storage-blob';
import { QueueServiceClient, type QueueClient } from '@azure/storage-queue';
import type { StorageConfig } from '../config';

/**
 * Makes Azure Storage clients from configuration: a connection string (Azurite, or an account
 * key where a user insists) or identity-based service URIs with a managed identity.
 */
export class StorageClients {
  private readonly credential?: TokenCredential;
  private readonly blobService: BlobServiceClient;
  private readonly queueService: QueueServiceClient;

  constructor(private readonly config: StorageConfig) {
    if (config.kind === 'connectionString') {
      this.blobService = BlobServiceClient.fromConnectionString(config.connectionString);
      this.queueService = QueueServiceClient.fromConnectionString(config.connectionString);
    } else {
      this.credential = new DefaultAzureCredential({ managedIdentityClientId: config.clientId });
      this.blobService = new BlobServiceClient(config.blobServiceUri, this.credential);
      this.queueService = new QueueServiceClient(config.queueServiceUri, this.credential);
    }
  }

  container(name: string): ContainerClient {
    return this.blobService.getContainerClient(name);
  }

  queue(name: string): QueueClient {
    return this.queueService.getQueueClient(name);
  }

  table(name: string): TableClient {
    const c = this.config;
    if (c.kind === 'connectionString') {
      // Azurite speaks plain HTTP on loopback.
      return TableClient.fromConnectionString(c.connectionString, name, { allowInsecureConnection: true });
    }
    return new TableClient(c.tableServiceUri, name, this.credential!);
  }
}

/** Runs `create` once, on first use; a failed attempt is retried on the next use. */
export function once(create: () => Promise<unknown>): () => Promise<void> {
  let done: Promise<void> | undefined;
  return () => {
    done ??= create().then(
      () => undefined,
      (err: unknown) => {
        done = undefined;
        throw err;
      },
    );
    return done;
  };
}

/** True when an Azure SDK error carries the given HTTP status. */
export function hasStatus(err: unknown, status: number): boolean {
  return (err as { statusCode?: number } | null)?.statusCode === status;
}

/**
 * The result of a storage call, or undefined when it failed with one of `statuses` (the
 * expected outcomes: 404 not found, 409 exists, 412 changed since read). Other errors are thrown.
 */
export async function unlessStatus<T>(work: Promise<T>, ...statuses: number[]): Promise<T | undefined> {
  try {
    return await work;
  } catch (err) {
    if (statuses.some((s) => hasStatus(err, s))) return undefined;
    throw err;
  }
}
