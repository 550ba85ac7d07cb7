/** Glue for Microsoft Graph's webhook calls: the validation handshake as text/plain, notifications answered 202. */
import type { HttpHandler } from '@azure/functions';
import { getServices } from '../shared/services';
import { invocationLogger, readOptionalJson, withErrors } from './http';
import type { NotificationAnswer, NotificationDeps } from '../shared/mailbox';

/** Graph's notification bodies are small; a batch of many stays well below this. */
const MAX_BODY_BYTES = 1024 * 1024;

export function notificationResponse(
  accept: (validationToken: string | null, readBody: () => Promise<unknown>, deps: NotificationDeps) => Promise<NotificationAnswer>,
): HttpHandler {
  return withErrors(async (request, context) => {
    const deps = getServices().mailboxDeps(invocationLogger(context));
    const answer = await accept(
      new URL(request.url).searchParams.get('validationToken'),
      () => readOptionalJson(request, MAX_BODY_BYTES),
      deps,
    );
    if (answer.status === 202) return { status: 202 };
    return {
      status: answer.status,
      body: answer.text,
      headers: { 'content-type': 'text/plain; charset=utf-8', 'x-content-type-options': 'nosniff' },
    };
  });
}
