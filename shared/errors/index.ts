/**
 * Typed errors. An AppError carries a code from the catalog (catalog.ts: its HTTP status, what
 * it means, what to do) and a message written for the person who must act on it (an
 * administrator reading a printer's log). Its message is safe to return: it never holds a
 * secret, a token or a stack trace. Anything that is not an AppError is an internal fault and is
 * answered with a generic 500.
 */
import { statusOf, type CodeWithStatus, type RequestErrorCode } from './catalog';

export class AppError extends Error {
  readonly status: number;

  constructor(
    readonly code: RequestErrorCode,
    message: string,
    /** Seconds after which a retry may succeed (sent as Retry-After). */
    readonly retryAfterSeconds?: number,
  ) {
    super(message);
    this.name = new.target.name;
    this.status = statusOf(code);
  }
}

/** 400: the request is malformed or incomplete. */
export class BadRequestError extends AppError {
  constructor(code: CodeWithStatus<400>, message: string) {
    super(code, message);
  }
}

/** A problem with one field of a request body: its path (`options.auth.port`) and what is expected. */
export interface FieldProblem {
  path: string;
  message: string;
}

/** 400 validation_failed: the body is not valid; the answer lists every problem by its path (`fields`). */
export class ValidationError extends AppError {
  constructor(
    message: string,
    readonly fields: readonly FieldProblem[],
  ) {
    super('validation_failed', message);
  }
}

/** 401: a credential is missing or wrong. */
export class UnauthorizedError extends AppError {
  constructor(message = 'Missing or wrong credentials.') {
    super('unauthorized', message);
  }
}

/** 413: a size limit was exceeded. */
export class PayloadTooLargeError extends AppError {
  constructor(code: CodeWithStatus<413>, message: string) {
    super(code, message);
  }
}

/** 415: the body is not of a media type the endpoint accepts. */
export class UnsupportedMediaTypeError extends AppError {
  constructor(message: string) {
    super('unsupported_media_type', message);
  }
}

/** A setting is missing or invalid. Start-up stops with this message. */
export class ConfigError extends Error {
  constructor(
    readonly setting: string,
    message: string,
  ) {
    super(`Configuration setting ${setting}: ${message}`);
    this.name = 'ConfigError';
  }
}

/** A secret could not be found in the secret store. */
export class SecretNotFoundError extends Error {
  constructor(
    readonly secretName: string,
    message: string,
  ) {
    super(message);
    this.name = 'SecretNotFoundError';
  }
}

export function isAppError(err: unknown): err is AppError {
  return err instanceof AppError;
}

export * from './catalog';
export { renderErrorsDoc } from './errorsDoc';
