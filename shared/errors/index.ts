/**
 * Typed errors. An AppError carries an HTTP status and a message written for the person who
 * must act on it (an administrator reading a printer's log). Its message is safe to return:
 * it never holds a secret, a token or a stack trace. Anything that is not an AppError is an
 * internal fault and is answered with a generic 500.
 */
export class AppError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    /** Seconds after which a retry may succeed (sent as Retry-After). */
    readonly retryAfterSeconds?: number,
  ) {
    super(message);
    this.name = new.target.name;
  }
}

/** 400: the request is malformed or incomplete. */
export class BadRequestError extends AppError {
  constructor(code: string, message: string) {
    super(400, code, message);
  }
}

/** 401: a credential is missing or wrong. */
export class UnauthorizedError extends AppError {
  constructor(message = 'Missing or wrong credentials.') {
    super(401, 'unauthorized', message);
  }
}

/** 413: a size limit was exceeded. */
export class PayloadTooLargeError extends AppError {
  constructor(code: string, message: string) {
    super(413, code, message);
  }
}

/** 415: the body is not of a media type the endpoint accepts. */
export class UnsupportedMediaTypeError extends AppError {
  constructor(message: string) {
    super(415, 'unsupported_media_type', message);
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
