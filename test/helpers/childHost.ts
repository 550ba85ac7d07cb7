/**
 * ScanRelay's local host (`npm start`'s host/local/main.ts) in a child process, run from the
 * TypeScript sources, so that a test can SIGKILL it at a chosen moment and start it again.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

const ROOT = join(__dirname, '..', '..');

export interface ChildHost {
  url: string;
  scanUrl: string;
  /** Everything it printed so far (for a failure's message). */
  output(): string;
  /** SIGKILL: no cleanup of any kind, as a crash or a lost instance. */
  kill(): Promise<void>;
  /** SIGTERM, as Ctrl-C. */
  stop(): Promise<void>;
}

/** Starts the host; `cwd` (default: the repository) is where it looks for local.settings.json and destinations.json. */
export async function startChildHost(env: Record<string, string>, cwd = ROOT): Promise<ChildHost> {
  const child: ChildProcess = spawn(process.execPath, ['-r', join(__dirname, 'tsRegister.js'), join(ROOT, 'host', 'local', 'main.ts')], {
    cwd,
    env: { ...process.env, PORT: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stderr!.on('data', (d: Buffer) => (output = (output + d.toString()).slice(-20_000)));
  const url = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout! }).on('line', (line) => {
      output = (output + line + '\n').slice(-20_000);
      const m = /scan: \[POST\] (http:\/\/localhost:\d+)\/api\/scan$/.exec(line.trim());
      if (m) resolve(m[1]!);
    });
    child.once('exit', (code) => reject(new Error(`the host exited (code ${code}) before it was ready:\n${output}`)));
  });
  const ended = (signal: NodeJS.Signals) => async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = once(child, 'exit');
    child.kill(signal);
    await exited;
  };
  return { url, scanUrl: `${url}/api/scan`, output: () => output, kill: ended('SIGKILL'), stop: ended('SIGTERM') };
}

/** Runs the host until it exits (for start-up refusals): its exit code and output. */
export async function runChildHostToExit(env: Record<string, string>): Promise<{ code: number | null; output: string }> {
  const child = spawn(process.execPath, ['-r', join(__dirname, 'tsRegister.js'), join(ROOT, 'host', 'local', 'main.ts')], {
    cwd: ROOT,
    env: { ...process.env, PORT: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr.on('data', (d: Buffer) => (output += d.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
  const [code] = (await once(child, 'exit')) as [number | null];
  clearTimeout(timer);
  return { code, output };
}
