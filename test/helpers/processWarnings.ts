/**
 * The warnings the Node process emits while a test runs (process 'warning' event).
 *
 * A Jest test runs in a vm context whose `process` is a copy: listeners added to it never see
 * what Node emits on the real process. `vm.runInThisContext` evaluates in the main context, whose
 * `process` is the real one.
 */
import { runInThisContext } from 'node:vm';

export interface WarningRecorder {
  warnings: Array<{ name: string; code?: string; message: string }>;
  /** Lets already-queued warnings arrive (emitWarning emits on the next tick), then stops listening. */
  stop(): Promise<void>;
}

export function recordProcessWarnings(): WarningRecorder {
  const realProcess = runInThisContext('process') as NodeJS.Process;
  const warnings: WarningRecorder['warnings'] = [];
  const listener = (w: Error & { code?: string }) => warnings.push({ name: w.name, code: w.code, message: w.message });
  realProcess.on('warning', listener);
  return {
    warnings,
    stop: async () => {
      await new Promise((resolve) => setImmediate(resolve));
      realProcess.off('warning', listener);
    },
  };
}
