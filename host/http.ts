/** Glue between HTTP triggers and the core: errors to responses, request facts to plain values. */
import { Readable } from 'node:stream';
import type { HttpHandler, HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import { authorizeRequest, type Access, type Caller, type SetCookie } from '../shared/access';
import { BadRequestError, isAppError, PayloadTooLargeError, statusOf, ValidationError, type RequestErrorCode } from '../shared/errors';
import { describeError, type Logger } from '../shared/log';
import { getServices } from '../shared/services';

/** A Logger that writes to the invocation's log. */
export function invocationLogger(context: InvocationContext): Logger {
  return {
    info: (m, p) => context.log(m, p ?? ''),
    warn: (m, p) => context.warn(m, p ?? ''),
    error: (m, p) => context.error(m, p ?? ''),
  };
}

/** JSON error body: `{ error: <code>, message: <what to do> }`, with the code's status (shared/errors/catalog.ts). */
export function errorResponse(code: RequestErrorCode, message: string): HttpResponseInit {
  return { status: statusOf(code), jsonBody: { error: code, message } };
}

/**
 * Wraps a handler so that a typed AppError becomes its 4xx answer and anything else a
 * generic 500 that names the invocation id (the details go to the log, not the response).
 */
export function withErrors(handler: HttpHandler): HttpHandler {
  return async (request, context) => {
    try {
      return await handler(request, context);
    } catch (err) {
      if (isAppError(err)) {
        context.warn(`${context.functionName}: ${err.status} ${err.code}`);
        const response = errorResponse(err.code, err.message);
        if (err instanceof ValidationError) response.jsonBody = { ...(response.jsonBody as object), fields: err.fields };
        if (err.retryAfterSeconds) response.headers = { 'retry-after': String(err.retryAfterSeconds) };
        return response;
      }
      context.error(`${context.functionName}: internal error`, describeError(err));
      return errorResponse(
        'internal_error',
        `The request could not be completed. Try again; if it keeps failing, give your administrator ` +
          `the invocation id ${context.invocationId}.`,
      );
    }
  };
}

export type AdminHandler = (request: HttpRequest, context: InvocationContext, caller: Caller) => Promise<HttpResponseInit>;

/**
 * An admin endpoint: the caller must hold `need` (GET, HEAD: `read`, anything else: `write`, unless
 * given) with the admin key or a console session (shared/access); errors as withErrors answers them.
 */
export function withAdmin(handler: AdminHandler, need?: Access): HttpHandler {
  return withErrors(async (request, context) => {
    const access = need ?? (['GET', 'HEAD'].includes(request.method) ? 'read' : 'write');
    const caller = await authorizeRequest(getServices().accessDeps(), request, access);
    const response = await handler(request, context, caller);
    if (caller.renewed) response.cookies = [...(response.cookies ?? []), httpCookie(caller.renewed)];
    return response;
  });
}

/** A cookie from shared/ in the shape of @azure/functions. */
export function httpCookie(c: SetCookie): NonNullable<HttpResponseInit['cookies']>[number] {
  return {
    name: c.name,
    value: c.value,
    path: c.path,
    httpOnly: c.httpOnly,
    secure: c.secure,
    sameSite: c.sameSite,
    ...(c.maxAge !== undefined ? { maxAge: c.maxAge } : {}),
  };
}

/** The request body as a Node stream (an empty one when there is none). */
export function bodyStream(request: HttpRequest): Readable {
  return request.body ? Readable.fromWeb(request.body) : Readable.from([]);
}

/** Content-Length as a number, when the sender gave one. */
export function contentLength(request: HttpRequest): number | undefined {
  const v = request.headers.get('content-length');
  return v && /^\d+$/.test(v) ? Number(v) : undefined;
}

/**
 * The sender's address: the last X-Forwarded-For entry, the one the front end (Azure's, or the
 * local host) appended; earlier entries are the sender's own claims. The port is dropped.
 */
export function senderAddress(request: HttpRequest): string | undefined {
  const forwarded = request.headers.get('x-forwarded-for');
  const last = forwarded?.split(',').pop()?.trim();
  if (!last) return undefined;
  const bracketed = /^\[([^\]]+)\](?::\d+)?$/.exec(last);
  if (bracketed) return bracketed[1];
  return /^[\d.]+:\d+$/.test(last) ? last.slice(0, last.lastIndexOf(':')) : last;
}

/** The JSON body of a small admin request (at most 64 KiB, refused with a 413 as it streams). */
export async function readJson(request: HttpRequest): Promise<unknown> {
  return (await readOptionalJson(request, 64 * 1024)) ?? {};
}

/** The JSON body, or undefined when there is none (at most `maxBytes`, refused with a 413 as it streams). */
export async function readOptionalJson(request: HttpRequest, maxBytes: number): Promise<unknown> {
  const text = await readText(request, maxBytes);
  if (text.trim() === '') return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new BadRequestError('invalid_json', 'The body is not valid JSON.');
  }
}

/**
 * The body as UTF-8 text, read as it streams in and refused with a 413 as soon as it passes
 * `maxBytes` (before reading it at all when Content-Length already says so).
 */
export async function readText(request: HttpRequest, maxBytes: number): Promise<string> {
  const tooLarge = () => new PayloadTooLargeError('body_too_large', `The body is larger than ${maxBytes} bytes.`);
  const declared = contentLength(request);
  if (declared !== undefined && declared > maxBytes) throw tooLarge();
  if (!request.body) return '';
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of bodyStream(request)) {
    size += (chunk as Buffer).length;
    if (size > maxBytes) throw tooLarge();
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}
