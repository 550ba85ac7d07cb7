/** setJobState writes the record and the index row together, and waits for both, also when one fails. */
import { setJobState } from '../../shared/delivery/jobState';
import type { ScanJob } from '../../shared/storage';

const job = {
  jobId: 'j1',
  scanJobId: 's1',
  status: 'stored',
  receivedAt: new Date('2026-12-01T10:00:00Z'),
  fields: {},
  files: [],
} as unknown as ScanJob;

it('does not answer while the record is still being written when the index write failed at once', async () => {
  const events: string[] = [];
  let finishRecord!: () => void;
  const deps = {
    scanJobs: {
      setDeliveryState: () =>
        new Promise<void>((resolve) => {
          finishRecord = () => {
            events.push('record written');
            resolve();
          };
        }),
    },
    jobIndex: { upsert: () => Promise.reject(new Error('index down')) },
  };
  const done = setJobState(deps, job, 'failed').catch((err: Error) => events.push(`rejected: ${err.message}`));
  await new Promise((r) => setImmediate(r));
  expect(events).toEqual([]);
  finishRecord();
  await done;
  expect(events).toEqual(['record written', 'rejected: index down']);
});

it('answers once both are written', async () => {
  const written: string[] = [];
  const deps = {
    scanJobs: { setDeliveryState: async (_id: string, state: string) => void written.push(`record ${state}`) },
    jobIndex: { upsert: async (e: { deliveryState?: string }) => void written.push(`index ${e.deliveryState}`) },
  };
  await setJobState(deps, job, 'delivered', undefined, { deliveredAt: new Date() });
  expect(written.sort()).toEqual(['index delivered', 'record delivered']);
});
