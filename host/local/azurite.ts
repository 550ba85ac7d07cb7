/** Starts Azurite (from node_modules) as a child process and reports where it listens. */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';

export interface AzuriteOptions {
  /** Folder for Azurite's data; omitted: data is kept in memory only. */
  location?: string;
  /** Ports to listen on; 0 (the default) picks free ones. */
  blobPort?: number;
  queuePort?: number;
  tablePort?: number;
}

export interface RunningAzurite {
  blobPort: number;
  queuePort: number;
  tablePort: number;
  connectionString: string;
  stop(): Promise<void>;
}

const ACCOUNT = 'devstoreaccount1';
const KEY = 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';

export function azuriteConnectionString(ports: { blobPort: number; queuePort: number; tablePort: number }): string {
  return (
    `DefaultEndpointsProtocol=http;AccountName=${ACCOUNT};AccountKey=${KEY};` +
    `BlobEndpoint=http://127.0.0.1:${ports.blobPort}/${ACCOUNT};` +
    `QueueEndpoint=http://127.0.0.1:${ports.queuePort}/${ACCOUNT};` +
    `TableEndpoint=http://127.0.0.1:${ports.tablePort}/${ACCOUNT};`
  );
}

export async function startAzurite(options: AzuriteOptions = {}): Promise<RunningAzurite> {
  const args = [
    require.resolve('azurite/dist/src/azurite.js'),
    '--silent',
    '--skipApiVersionCheck',
    '--disableTelemetry',
    '--loose',
    '--blobPort',
    String(options.blobPort ?? 0),
    '--queuePort',
    String(options.queuePort ?? 0),
    '--tablePort',
    String(options.tablePort ?? 0),
    ...(options.location ? ['--location', options.location] : ['--inMemoryPersistence']),
  ];
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const ports: Record<string, number> = {};
  let output = '';
  const ready = new Promise<void>((resolve, reject) => {
    const lines = createInterface({ input: child.stdout });
    lines.on('line', (line) => {
      output += line + '\n';
      const m = /Azurite (Blob|Queue|Table) service is successfully listening at http:\/\/[^:]+:(\d+)/.exec(line);
      if (m) ports[m[1]!.toLowerCase()] = Number(m[2]);
      if (ports.blob && ports.queue && ports.table) resolve();
    });
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    child.once('exit', (code) => reject(new Error(`Azurite exited (code ${code}) before it was ready:\n${output}`)));
  });
  await ready;
  const running = { blobPort: ports.blob!, queuePort: ports.queue!, tablePort: ports.table! };
  return {
    ...running,
    connectionString: azuriteConnectionString(running),
    stop: () => stopChild(child),
  };
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(timer);
}
