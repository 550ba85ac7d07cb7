/** Forks bench children (bench/child.ts) and talks to them over IPC. */
import { fork, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import type { ChildRole, Command, ConnectReply, MarkReply, PeakReply, Reply, RunReply, Scenario } from './protocol';

type Without<T, K extends keyof never> = T extends unknown ? Omit<T, K> : never;

export interface BenchChild {
  role: ChildRole;
  pid: number;
  /** Points the child at an Azurite (again and again: each repetition gets a fresh one). */
  connect(connectionString: string): Promise<ConnectReply>;
  mark(): Promise<MarkReply>;
  peak(): Promise<PeakReply>;
  run(scenario: Scenario): Promise<RunReply>;
  /** Asks the child to stop, then makes sure it is gone (SIGKILL after 5 s). Safe to call twice. */
  stop(): Promise<void>;
}

const COMMAND_TIMEOUT_MS = 180_000;

/** `profileDir`: write a V8 CPU profile of the child there (node --cpu-prof) when it exits. */
export function forkChild(role: ChildRole, profileDir?: string): BenchChild {
  const child: ChildProcess = fork(join(__dirname, 'child.js'), [role], {
    execArgv: ['--expose-gc', ...(profileDir ? ['--cpu-prof', '--cpu-prof-dir', profileDir] : [])],
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  });
  // Drain the child's output (ScanRelay logs each invocation); keep the end for error reports.
  let output = '';
  const keep = (d: Buffer) => {
    output = (output + d.toString()).slice(-8000);
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);

  let nextId = 1;
  const waiting = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  child.on('message', (reply: Reply) => {
    const w = waiting.get(reply.id);
    if (!w) return;
    waiting.delete(reply.id);
    if (reply.ok) w.resolve(reply.data);
    else w.reject(new Error(`${role} child: ${reply.error}`));
  });
  child.on('exit', (code, signal) => {
    for (const w of waiting.values()) {
      w.reject(new Error(`${role} child exited (code ${code}, signal ${signal}) while busy:\n${output}`));
    }
    waiting.clear();
  });

  function send<T>(cmd: Without<Command, 'id'>): Promise<T> {
    if (child.exitCode !== null || child.signalCode !== null) {
      return Promise.reject(new Error(`${role} child is not running:\n${output}`));
    }
    const id = nextId++;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        waiting.delete(id);
        reject(new Error(`${role} child: '${cmd.type}' took longer than ${COMMAND_TIMEOUT_MS / 1000} s`));
      }, COMMAND_TIMEOUT_MS);
      waiting.set(id, {
        resolve: (v) => (clearTimeout(timer), resolve(v as T)),
        reject: (e) => (clearTimeout(timer), reject(e)),
      });
      child.send({ ...cmd, id });
    });
  }

  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = once(child, 'exit');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      try {
        await send<null>({ type: 'stop' });
      } catch {
        child.kill('SIGKILL');
      }
      await exited;
      clearTimeout(timer);
    })());

  return {
    role,
    pid: child.pid!,
    connect: (connectionString) => send<ConnectReply>({ type: 'connect', connectionString }),
    mark: () => send<MarkReply>({ type: 'mark' }),
    peak: () => send<PeakReply>({ type: 'peak' }),
    run: (scenario) => send<RunReply>({ type: 'run', scenario }),
    stop,
  };
}

/** Sends `message` and resolves with the child's first reply of `replyType` ('error' replies reject). */
export function ask<T>(child: ChildProcess, message: { type: string } & Record<string, unknown>, replyType = message.type): Promise<T> {
  return new Promise<T>((res, rej) => {
    const onExit = (code: number | null) => {
      child.off('message', onMessage);
      rej(new Error(`bench: a child exited (${code}) before answering '${message.type}'`));
    };
    const onMessage = (m: { type?: string; message?: string }) => {
      if (m?.type !== replyType && m?.type !== 'error') return;
      child.off('message', onMessage);
      child.off('exit', onExit);
      if (m.type === 'error') rej(new Error(`bench: '${message.type}' failed: ${m.message}`));
      else res(m as T);
    };
    child.on('message', onMessage);
    child.once('exit', onExit);
    child.send(message);
  });
}
