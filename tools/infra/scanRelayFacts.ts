/**
 * The facts about ScanRelay that the Bicep templates need but cannot import from TypeScript:
 * the connection types with their redirect paths (shared/oauth/permissions.ts), the console's
 * sign-in redirect path (shared/access) and the
 * containers, queues and tables ScanRelay uses (shared/storage). They are written to
 * infra/scanrelay.generated.json, which main.bicep reads with loadJsonContent();
 * test/unit/infra.test.ts fails when the file and the code disagree.
 */
import { SIGN_IN_CALLBACK_PATH } from '../../shared/access';
import { CONNECTION_TYPES, redirectPath } from '../../shared/oauth';
import * as storage from '../../shared/storage';

export const GENERATED_FILE = 'infra/scanrelay.generated.json';

export interface ScanRelayFacts {
  '//': string;
  connectionTypes: Array<{ type: string; redirectPath: string }>;
  consoleRedirectPath: string;
  storage: { scanContainer: string; containers: string[]; queues: string[]; tables: string[] };
}

/** Every exported `*_CONTAINER`, `*_QUEUE` and `*_TABLE` name of shared/storage (queues with their poison queue). */
function storageNames(): ScanRelayFacts['storage'] {
  const pick = (suffix: string) =>
    Object.entries(storage)
      .filter(([name, value]) => name.endsWith(suffix) && typeof value === 'string')
      .map(([, value]) => value as string);
  const queues = pick('_QUEUE');
  return {
    // The container of stored scans, which the retention rule empties.
    scanContainer: storage.SCAN_CONTAINER,
    containers: [...new Set(pick('_CONTAINER'))].sort(),
    // The Functions host moves a message that failed maxDequeueCount times to <queue>-poison.
    queues: [...new Set(queues.flatMap((q) => [q, `${q}-poison`]))].sort(),
    tables: [...new Set(pick('_TABLE'))].sort(),
  };
}

export function scanRelayFacts(): ScanRelayFacts {
  return {
    '//': 'Generated from shared/oauth/permissions.ts, shared/access and shared/storage by `npm run build && node dist/tools/infra/generate.js`. Do not edit.',
    connectionTypes: CONNECTION_TYPES.map((type) => ({ type, redirectPath: redirectPath(type) })),
    consoleRedirectPath: SIGN_IN_CALLBACK_PATH,
    storage: storageNames(),
  };
}

export function renderScanRelayFacts(): string {
  return JSON.stringify(scanRelayFacts(), null, 2) + '\n';
}
