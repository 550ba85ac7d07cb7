/**
 * `npm start`: runs ScanRelay locally. Loads local.settings.json, starts Azurite from
 * node_modules unless AzureWebJobsStorage names a storage account or a running Azurite, then
 * serves every registered function on http://localhost:7071/api/... (PORT overrides) and runs
 * its timer and queue triggers. Ctrl-C or SIGTERM stops everything, Azurite included.
 */
import { connect } from 'node:net';
import { resolve } from 'node:path';
import { getConfig } from '../../shared/config';
import { createLocalDestination } from '../../shared/destinations';
import { ConfigError } from '../../shared/errors';
import { getServices } from '../../shared/services';
import { registry } from '../registry';
import { startAzurite, type RunningAzurite } from './azurite';
import { createMissingLocalSecrets, developmentSignInLink } from './firstRun';
import { startLocalServer } from './server';
import { loadLocalSettings } from './settings';
import { queueSettings, resolveSchedule, startTriggers } from './triggers';

const AZURITE_PORTS = { blobPort: 10000, queuePort: 10001, tablePort: 10002 };

function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ port, host: '127.0.0.1' });
    socket.once('connect', () => (socket.destroy(), resolve(true)));
    socket.once('error', () => resolve(false));
  });
}

/** True when the settings ask for the development storage (or name no storage at all). */
function wantsDevelopmentStorage(env: NodeJS.ProcessEnv): boolean {
  const value = env.AzureWebJobsStorage?.trim();
  if (value) return /^UseDevelopmentStorage=true;?$/i.test(value);
  return !Object.keys(env).some((k) => k.startsWith('AzureWebJobsStorage__') && env[k]);
}

/**
 * LOCAL_QUEUE_VISIBILITY_SECONDS (local host only, for tests): how long a message being processed
 * stays invisible, in place of the Functions host's fixed 10 minutes.
 */
function processingVisibility(value: string | undefined): number | undefined {
  if (value === undefined || value === '') return undefined;
  if (!/^\d+$/.test(value) || Number(value) < 2 || Number(value) > 600) {
    throw new ConfigError('LOCAL_QUEUE_VISIBILITY_SECONDS', 'must be a whole number from 2 to 600.');
  }
  return Number(value);
}

let azurite: RunningAzurite | undefined;

async function main(): Promise<void> {
  const settingsFile = loadLocalSettings();
  console.log(settingsFile ? `Settings: ${settingsFile}` : 'Settings: environment only (no local.settings.json)');

  if (wantsDevelopmentStorage(process.env)) {
    const open = await Promise.all(Object.values(AZURITE_PORTS).map(portOpen));
    if (open.every(Boolean)) {
      console.log('Storage: the Azurite already running on ports 10000-10002');
    } else {
      azurite = await startAzurite({ ...AZURITE_PORTS, location: '.azurite' });
      console.log('Storage: Azurite started from node_modules (data in .azurite/)');
    }
    process.env.AzureWebJobsStorage = 'UseDevelopmentStorage=true';
  } else {
    console.log('Storage: the account named by AzureWebJobsStorage');
  }

  const config = getConfig();
  // The refresh timer's schedule is the app setting %TOKEN_REFRESH_SCHEDULE%; give it its default.
  process.env.TOKEN_REFRESH_SCHEDULE ??= config.oauth.refreshSchedule;
  process.env.DIRECTORY_SYNC_SCHEDULE ??= config.directory.sync.schedule;
  process.env.INGEST_SWEEP_SCHEDULE ??= config.scan.sweepSchedule;
  process.env.MAILBOX_READ_SCHEDULE ??= config.mailbox.readSchedule;
  process.env.MAILBOX_SUBSCRIPTION_SCHEDULE ??= config.mailbox.subscriptionSchedule;
  process.env.NOTIFICATION_WATCH_SCHEDULE ??= config.notifications.watchSchedule;
  console.log(
    `Secrets: ${config.secrets.kind === 'keyVault' ? config.secrets.vaultUrl : `environment (SECRET_*) and ${config.secrets.file}`}`,
  );
  const services = getServices();
  const created = await createMissingLocalSecrets(services);
  if (created.length)
    console.log(`Secrets: created ${created.join(', ')} in ${config.secrets.kind === 'local' ? config.secrets.file : ''} (first start)`);
  if (config.secrets.kind === 'local') {
    // A fresh clone delivers its first scan into a local folder (none stored, no file to import).
    const local = await createLocalDestination(
      services.destinations,
      resolve(process.env.LOCAL_DESTINATION_FOLDER || '.azurite/delivered'),
    );
    if (local)
      console.log(
        `Destinations: none stored and no destinations.json: created '${local.id}', which delivers every scan into ${local.folder} (first start; change or delete it in the console)`,
      );
  }
  // A bad destinations file stops the app here, as a bad setting does, not at the first scan;
  // on first start (none stored yet) the file is imported now.
  console.log(await services.destinations.startUp());
  const server = await startLocalServer({
    registry,
    port: Number(process.env.PORT || 7071),
    adminKey: () => services.secrets.tryGet('admin-key'),
  });
  const triggers = startTriggers(registry, (name) => services.storage.clients.queue(name), {
    ...queueSettings(),
    processingVisibilitySeconds: processingVisibility(process.env.LOCAL_QUEUE_VISIBILITY_SECONDS),
  });

  console.log('\nFunctions:');
  for (const r of server.routes) console.log(`  ${r.name}: [${r.methods.join(',')}] ${r.url}`);
  for (const fn of registry) {
    if (fn.kind === 'timer') console.log(`  ${fn.name}: timer ${fn.schedule} = ${resolveSchedule(fn.schedule)}`);
    if (fn.kind === 'queue') console.log(`  ${fn.name}: queue ${fn.queueName}`);
  }
  const link = await developmentSignInLink(services, server.url);
  console.log(
    link
      ? `\nConsole: ${server.url}/api/console\n  Sign in (one-time link, 24 h; a new one: npm run console-link):\n  ${link}`
      : `\nConsole: ${server.url}/api/console (sign-in with Microsoft Entra ID)`,
  );
  console.log(
    `\nTry: curl -F username=jdoe -F scanJobID=$(node -e "console.log(crypto.randomUUID())") -F file1=@some.pdf ${server.url}/api/scan\nPress Ctrl-C to stop.`,
  );

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    console.log(`\n${signal}: stopping...`);
    await triggers.stop();
    await server.close();
    await azurite?.stop();
    process.exit(0);
  };
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));
}

main().catch(async (err: unknown) => {
  console.error(`ScanRelay cannot start: ${err instanceof ConfigError ? err.message : ((err as Error)?.message ?? err)}`);
  await azurite?.stop();
  process.exit(1);
});
