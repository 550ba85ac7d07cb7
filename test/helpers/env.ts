/** A ScanRelay stack for one test file: its own Azurite (free ports, in memory) and services. */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig, type Config } from '../../shared/config';
import { createServices, type Services } from '../../shared/services';
import { startAzurite, type RunningAzurite } from '../../host/local/azurite';

export interface TestStack {
  azurite: RunningAzurite;
  config: Config;
  services: Services;
  secretsFile: string;
  stop(): Promise<void>;
}

export async function startStack(settings: Record<string, string> = {}, azurite?: RunningAzurite): Promise<TestStack> {
  const own = azurite ?? (await startAzurite());
  const secretsFile = join(mkdtempSync(join(tmpdir(), 'scanrelay-')), 'secrets.json');
  const config = loadConfig({ AzureWebJobsStorage: own.connectionString, SECRETS_LOCAL_FILE: secretsFile, ...settings });
  return {
    azurite: own,
    config,
    services: createServices(config),
    secretsFile,
    stop: async () => {
      if (!azurite) await own.stop();
    },
  };
}
