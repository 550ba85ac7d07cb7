/**
 * Each run as the console's Directory page shows it (shared/storage/directoryActivity.ts): written
 * when it starts (`running`) and again when it ends (`completed`, `interrupted` or `failed`, with
 * its counts and, for a failure, the error's code and message). A failure to record is a warning
 * in the log; it never fails or stops the run.
 */
import { randomUUID } from 'node:crypto';
import { describeError, type Logger } from '../log';
import type { DirectoryActivityRepository, SyncRunRecord } from '../storage';
import { DirectorySyncError } from './errors';

export type RunEnd = Pick<SyncRunRecord, 'status' | 'counts' | 'error' | 'reason' | 'retryAfterSeconds'>;

export interface RunRecorder {
  finish(end: RunEnd): Promise<void>;
}

export async function startRecording(
  runs: Pick<DirectoryActivityRepository, 'saveSyncRun'>,
  log: Logger,
  now = () => new Date(),
): Promise<RunRecorder> {
  const started: SyncRunRecord = { id: randomUUID(), startedAt: now(), status: 'running' };
  const save = async (run: SyncRunRecord) => {
    try {
      await runs.saveSyncRun(run);
    } catch (err) {
      log.warn('directorySync: the run could not be recorded for the Directory page', describeError(err));
    }
  };
  await save(started);
  return { finish: (end) => save({ ...started, ...end, finishedAt: now() }) };
}

/** A run's failure in words: the sync's own code and message, or (unforeseen) the error's kind. */
export function failureOf(err: unknown): { code: string; message: string } {
  if (err instanceof DirectorySyncError) return { code: err.code, message: err.message };
  const d = describeError(err);
  return {
    code: 'internal',
    message: `The run failed unexpectedly (${d.error}${d.message ? `: ${d.message.slice(0, 300)}` : ''}); the log has the details.`,
  };
}
