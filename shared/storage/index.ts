/**
 * Storage: small repositories over Azure Storage. Tables, containers and queues are created
 * on first use.
 */
import type { StorageConfig } from '../config';
import { StorageClients } from './clients';
import { DELIVERY_QUEUE, DeliveryQueue } from './deliveryQueue';
import { SCAN_CONTAINER, ScanBlobStore } from './scanBlobs';
import { SCAN_JOB_KEYS_TABLE, SCAN_JOBS_TABLE, ScanJobRepository } from './scanJobs';

export interface Storage {
  clients: StorageClients;
  scanBlobs: ScanBlobStore;
  scanJobs: ScanJobRepository;
  deliveryQueue: DeliveryQueue;
}

export function createStorage(config: StorageConfig): Storage {
  const clients = new StorageClients(config);
  return {
    clients,
    scanBlobs: new ScanBlobStore(clients.container(SCAN_CONTAINER)),
    scanJobs: new ScanJobRepository(clients.table(SCAN_JOBS_TABLE), clients.table(SCAN_JOB_KEYS_TABLE)),
    deliveryQueue: new DeliveryQueue(clients.queue(DELIVERY_QUEUE)),
  };
}

export * from './clients';
export * from './deliveryQueue';
export * from './scanBlobs';
export * from './scanJobs';
