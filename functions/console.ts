/**
 * /api/console/{*path}: the admin console's pages (shared/console). Anonymous at the Functions
 * host: the console's own sign-in and session decide (shared/access).
 */
import { Readable } from 'node:stream';
import type { HttpResponseInit } from '@azure/functions';
import { handleConsole } from '../shared/console';
import { getServices } from '../shared/services';
import type { HttpFunction } from '../host/definitions';
import { httpCookie, invocationLogger, readText, withErrors } from '../host/http';

/** Forms are small: the largest is a destination's JSON. */
const FORM_LIMIT_BYTES = 64 * 1024;

export const adminConsole: HttpFunction = {
  kind: 'http',
  name: 'console',
  route: 'console/{*path}',
  methods: ['GET', 'POST'],
  authLevel: 'anonymous',
  handler: withErrors(async (request, context) => {
    const url = new URL(request.url);
    const path = request.params.path ? `/${request.params.path}` : '';
    const response = await handleConsole(getServices().consoleDeps(invocationLogger(context)), {
      method: request.method,
      url: request.url,
      path: path.replace(/\/+$/, ''),
      query: url.searchParams,
      headers: request.headers,
      form: async () => {
        const type = request.headers.get('content-type') ?? '';
        if (!/^application\/x-www-form-urlencoded\b/i.test(type)) return new URLSearchParams();
        return new URLSearchParams(await readText(request, FORM_LIMIT_BYTES));
      },
    });
    const init: HttpResponseInit = { status: response.status, headers: response.headers, cookies: response.cookies.map(httpCookie) };
    if (response.body !== undefined)
      init.body = typeof response.body === 'string' ? response.body : (Readable.toWeb(response.body) as ReadableStream);
    return init;
  }),
};
