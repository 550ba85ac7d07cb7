/**
 * What can stop or cut short a directory sync run: an administrator must act (DirectorySyncError,
 * with a code), Graph asks to wait longer than a run should (SyncInterruptedError: the next run
 * resumes), a stored delta token expired (DeltaExpiredError: the round starts over in full), or
 * a user or group is gone (GraphNotFoundError).
 */

export type SyncErrorCode = 'forbidden' | 'unauthorized' | 'group_not_found' | 'token' | 'graph';

/** The sync cannot run until an administrator acts (permissions, group id, app registration). */
export class DirectorySyncError extends Error {
  constructor(
    readonly code: SyncErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'DirectorySyncError';
  }
}

/** Graph is throttling or unavailable for longer than a run should wait: stop, the next run resumes. */
export class SyncInterruptedError extends Error {
  constructor(
    message: string,
    readonly retryAfterSeconds?: number,
  ) {
    super(message);
    this.name = 'SyncInterruptedError';
  }
}

/** The stored delta token is no longer valid: the round must start again from the beginning. */
export class DeltaExpiredError extends Error {
  constructor(readonly code: string) {
    super(`Microsoft Graph no longer knows the delta token (${code}).`);
    this.name = 'DeltaExpiredError';
  }
}

/** A user or group that does not exist (any more). */
export class GraphNotFoundError extends Error {
  constructor() {
    super('Microsoft Graph answered 404: the object does not exist.');
    this.name = 'GraphNotFoundError';
  }
}
