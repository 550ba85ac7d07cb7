/**
 * Sends one event to one channel, and says whether a failure is worth retrying.
 *
 * - webhook and teams: one POST of JSON, to the address the host resolved to once checked
 *   (the SSRF guard of HTTP forward: loopback, private and link-local addresses refused unless
 *   the channel allows them). 2xx is sent; 408, 429 and 5xx are worth retrying (with the answer's
 *   Retry-After); another 4xx is not (a Workflows URL whose flow was deleted answers 404).
 *   `Idempotency-Key` is the event's id, so a receiver can drop a repeat.
 * - email: the connection's connector (smtp or graphMail, shared/delivery) sends a message with
 *   no attachment, from the connection's account: the same TLS, XOAUTH2 and token renewal as a
 *   scan's delivery.
 */
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { graphMailConnector } from '../delivery/graphMail';
import { pinnedLookup, resolveTarget } from '../delivery/httpForward/ssrf';
import { smtpConnector } from '../delivery/smtp';
import { serverName } from '../delivery/tls';
import { PermanentDeliveryError, TransientDeliveryError, type DeliveryContext } from '../delivery/types';
import type { Connection } from '../storage';
import type { ChannelOptions, EmailChannelOptions, WebhookChannelOptions } from './channel';
import { emailMessage, teamsMessage, webhookBody, type Coalesced } from './formats';
import type { NotificationEvent } from './events';

export class SendFailure extends Error {
  constructor(
    message: string,
    /** Worth trying again later. */
    readonly transient: boolean,
    readonly retryAfterSeconds?: number,
  ) {
    super(message);
    this.name = 'SendFailure';
  }
}

export interface SendDeps {
  /** The channel's webhook URL, decrypted. */
  url?: string;
  connections: { get(id: string): Promise<Connection | undefined> };
  context: DeliveryContext;
}

export async function sendToChannel(
  channel: ChannelOptions,
  event: NotificationEvent,
  coalesced: Coalesced | undefined,
  deps: SendDeps,
): Promise<void> {
  if (channel.kind === 'email') return sendEmail(channel, event, coalesced, deps);
  if (!deps.url) throw new SendFailure('The channel has no URL stored; set it again.', false);
  const body = channel.kind === 'teams' ? teamsMessage(event, coalesced) : webhookBody(event, coalesced);
  return postJson(new URL(deps.url), body, channel, event.id);
}

async function postJson(url: URL, body: unknown, channel: WebhookChannelOptions, eventId: string): Promise<void> {
  const where = url.host;
  if (url.protocol === 'http:' && !channel.allowPrivateNetworks) {
    throw new SendFailure(`${where}: an http:// URL is only allowed with allowPrivateNetworks; use https://.`, false);
  }
  let target;
  try {
    target = await resolveTarget(url.hostname, channel.allowPrivateNetworks);
  } catch (err) {
    const message = (err as Error).message;
    // A name that does not resolve may resolve later; an address refused stays refused.
    throw new SendFailure(`${where}: ${message}`, /does not resolve|ENOTFOUND|EAI_AGAIN/.test(message));
  }
  const payload = Buffer.from(JSON.stringify(body), 'utf8');
  const timeoutMs = channel.timeoutSeconds * 1000;
  const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
  const res = await new Promise<IncomingMessage>((resolve, reject) => {
    const req = send(url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json; charset=utf-8',
        'content-length': payload.length,
        'idempotency-key': eventId,
        'user-agent': 'ScanRelay',
      },
      timeout: timeoutMs,
      lookup: pinnedLookup(target),
      servername: serverName(url.hostname),
    });
    req.once('response', resolve);
    req.once('error', reject);
    req.once('timeout', () => req.destroy(new Error(`no answer within ${channel.timeoutSeconds} s`)));
    req.end(payload);
  }).catch((err: Error) => {
    throw new SendFailure(`${where}: ${err.message}`, true);
  });
  const text = await readSome(res);
  const status = res.statusCode ?? 0;
  if (status >= 200 && status < 300) return;
  const reason = `${where} answered ${status}${text ? `: ${text}` : ''}`;
  if (status === 408 || status === 429 || status >= 500) {
    const retryAfter = Number(res.headers['retry-after']);
    throw new SendFailure(reason, true, Number.isFinite(retryAfter) && retryAfter >= 0 ? retryAfter : undefined);
  }
  throw new SendFailure(reason, false);
}

async function readSome(res: IncomingMessage): Promise<string> {
  let text = '';
  for await (const chunk of res) {
    if (text.length < 300) text += (chunk as Buffer).toString('utf8');
  }
  return text.replace(/\s+/g, ' ').trim().slice(0, 200);
}

async function sendEmail(channel: EmailChannelOptions, event: NotificationEvent, coalesced: Coalesced | undefined, deps: SendDeps) {
  const connection = await deps.connections.get(channel.connectionId);
  if (!connection) throw new SendFailure(`There is no connection '${channel.connectionId}'.`, false);
  const account = connection.account?.upn;
  if (connection.state !== 'authorized' || !account) {
    throw new SendFailure(`The connection '${channel.connectionId}' is not authorized (its state is ${connection.state}).`, false);
  }
  const { subject, text } = emailMessage(event, coalesced);
  const job = { jobId: event.id, receivedAt: new Date(event.occurredAt), fields: { subject, body: text }, files: [] };
  try {
    if (connection.type === 'smtpMicrosoft') {
      const options = smtpConnector.parseOptions({
        auth: { kind: 'microsoft365', connectionId: channel.connectionId, user: account, host: channel.smtpHost, port: channel.smtpPort },
        from: account,
        to: channel.to.join(', '),
        subject: '%subject%',
        body: '%body%',
      });
      await smtpConnector.deliver(job, options, deps.context);
    } else if (connection.type === 'exchangeMicrosoft') {
      const options = graphMailConnector.parseOptions({
        auth: 'delegated',
        connectionId: channel.connectionId,
        to: channel.to.join(', '),
        subject: '%subject%',
        body: '%body%',
      });
      await graphMailConnector.deliver(job, options, deps.context);
    } else {
      throw new SendFailure(
        `The connection '${channel.connectionId}' is of type ${connection.type}; e-mail needs smtpMicrosoft or exchangeMicrosoft.`,
        false,
      );
    }
  } catch (err) {
    if (err instanceof SendFailure) throw err;
    if (err instanceof TransientDeliveryError) throw new SendFailure(err.message, true, err.retryAfterSeconds);
    if (err instanceof PermanentDeliveryError) throw new SendFailure(err.message, false);
    throw new SendFailure((err as Error).message ?? String(err), true);
  }
}
