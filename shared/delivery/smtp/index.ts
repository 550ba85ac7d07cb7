/**
 * E-mail (SMTP): sends a job's files as attachments of one message, with nodemailer.
 *
 * - `system` auth: a configured server (host, port, optional user + password from the secret
 *   store); implicit TLS on port 465 unless `secure` says otherwise, STARTTLS when offered.
 *   With a password, TLS is REQUIRED before AUTH (implicit TLS, or STARTTLS with nodemailer's
 *   `requireTLS`, which sends STARTTLS even when it is not advertised and fails if the upgrade
 *   does not happen: https://nodemailer.com/smtp/ "requireTLS"). A server that offers no STARTTLS
 *   is refused, permanently, before the password is sent, unless the destination says
 *   `allowPlaintextAuth: true` (unsafe: the password goes in clear). Without credentials (a relay
 *   that accepts the app by address) nothing secret is sent: STARTTLS is used when offered and the
 *   message goes unencrypted to a server that offers none (opportunistic TLS, as between mail
 *   servers; such relays are often internal and without a certificate, and requiring TLS would
 *   stop them without protecting a credential); `secure: true` insists on TLS there too.
 * - `microsoft365` auth: smtp.office365.com:587, STARTTLS always required (an access token in clear
 *   is as bad as a password; there is no plaintext option), XOAUTH2 with an access token
 *   of a connection (shared/oauth). If the server refuses the token (535, or a 334 XOAUTH2 error
 *   challenge), a fresh token is asked for once and the message is sent once more.
 *
 * from/to/cc/subject are templates rendered with header escaping (no CR/LF can add a header);
 * to/cc are comma-separated lists in the template, and each rendered item must be exactly one
 * address, so a variable's value cannot add recipients. The body is a text template. Attachments
 * are streamed from storage (reopened for a retry); their total size is checked before connecting.
 *
 * Errors: a 5xx reply, an invalid address, a missing variable or a server certificate that fails
 * verification (self-signed, unknown CA, expired, wrong host name: see ../tls.ts) is permanent;
 * connection errors, timeouts and 4xx replies are transient.
 */
import type { Readable } from 'node:stream';
import nodemailer from 'nodemailer';
import type SMTPTransport from 'nodemailer/lib/smtp-transport';
import type Mail from 'nodemailer/lib/mailer';
import { KeyedSlots } from '../../concurrency';
import { renderAddresses } from '../addresses';
import { parseOptions } from '../options';
import { previewAddresses, previewTemplate } from '../preview';
import { renderTemplate } from '../template';
import { certificateRefused } from '../tls';
import { PermanentDeliveryError, TransientDeliveryError, type Connector, type DeliveryContext, type DeliveryJob } from '../types';
import { smtpOptionsSchema, type SmtpAuthOptions, type SmtpOptions } from './options';

export { DEFAULT_MAX_MESSAGE_BYTES, smtpOptionsSchema, type SmtpAuthOptions, type SmtpOptions } from './options';

interface SmtpError extends Error {
  code?: string;
  responseCode?: number;
  response?: string;
  command?: string;
}

function classify(err: unknown, a: SmtpAuthOptions): Error {
  if (err instanceof PermanentDeliveryError || err instanceof TransientDeliveryError) return err;
  const e = err as SmtpError;
  const where = `${a.host}:${a.port}`;
  // The OAuth connection must be authorized again by an administrator: retrying cannot help.
  if (e.code === 'reauthorization_required' || e.code === 'connection_not_found')
    return new PermanentDeliveryError(e.code, `SMTP delivery to ${where}: ${e.message}`);
  // requireTLS: STARTTLS was sent and refused (a server that does not offer it answers 5xx).
  if (e.code === 'ETLS' && e.command === 'STARTTLS' && typeof e.responseCode === 'number') {
    const reply = (e.response ?? '').replace(/\s+/g, ' ').trim().slice(0, 200);
    const message =
      a.kind === 'microsoft365'
        ? `SMTP delivery to ${where}: the server did not start TLS (it answered "${reply}" to STARTTLS), so the access token was not sent. ` +
          'Check "auth.host" and "auth.port" (Office 365: smtp.office365.com, port 587).'
        : `SMTP delivery to ${where}: the server did not start TLS (it answered "${reply}" to STARTTLS), so the password was not sent. ` +
          'Enable STARTTLS on the server, use implicit TLS ("secure": true, usually port 465), or, unsafe because the password then ' +
          'travels in clear, set "auth.allowPlaintextAuth": true.';
    return e.responseCode >= 500
      ? new PermanentDeliveryError('tls_required', message)
      : new TransientDeliveryError('destination_unavailable', message);
  }
  const message = `SMTP delivery to ${where}: ${reason(e, err)}`;
  if (typeof e.responseCode === 'number') {
    if (e.responseCode < 500) return new TransientDeliveryError('destination_unavailable', message);
    return new PermanentDeliveryError(e.code === 'EAUTH' ? 'authentication_failed' : 'destination_refused', message);
  }
  // No reply code: refused by nodemailer itself (bad address, message too large, missing credentials)...
  if (e.code === 'EENVELOPE') return new PermanentDeliveryError('invalid_address', message);
  if (e.code === 'EMESSAGE') return new PermanentDeliveryError('destination_refused', message);
  if (e.code === 'EAUTH') return new PermanentDeliveryError('authentication_failed', message);
  // ...or the network: refused, reset, DNS, TLS, timeouts.
  return new TransientDeliveryError('destination_unavailable', message);
}

/**
 * nodemailer's message already ends with the server's reply (its _formatError appends
 * `': ' + response`), so the reply is added only when the message lacks it. One line, bounded.
 */
function reason(e: SmtpError, err: unknown): string {
  const flat = (s: string) => s.replace(/\s+/g, ' ').trim();
  const text = flat(e.message ?? String(err));
  const reply = e.response ? flat(e.response) : '';
  return (reply && !text.includes(reply) ? `${text}: ${reply}` : text).slice(0, 500);
}

function isTokenRefused(err: unknown): boolean {
  const e = err as SmtpError;
  return e?.code === 'EAUTH' && (e.responseCode === 535 || e.responseCode === 334);
}

/** TLS before AUTH: always for XOAUTH2, for a password unless allowPlaintextAuth; a relay without credentials may go in clear. */
function requiresTls(a: SmtpAuthOptions): boolean {
  return a.kind === 'microsoft365' || (!!a.user && !a.allowPlaintextAuth);
}

async function sendOnce(
  job: DeliveryJob,
  options: SmtpOptions,
  mail: Mail.Options,
  auth: SMTPTransport.Options['auth'],
): Promise<SMTPTransport.SentMessageInfo> {
  const a = options.auth;
  const streams: Readable[] = [];
  try {
    const attachments: Mail.Attachment[] = [];
    for (const file of job.files) {
      const content = await file.open();
      streams.push(content);
      attachments.push({ filename: file.name, contentType: file.contentType, content });
    }
    const transport = nodemailer.createTransport({
      host: a.host,
      port: a.port,
      secure: a.kind === 'system' ? a.secure : false,
      requireTLS: requiresTls(a),
      auth,
      tls: options.tls ? { ...options.tls } : undefined,
      connectionTimeout: options.timeoutMs,
      greetingTimeout: options.timeoutMs,
      socketTimeout: options.timeoutMs,
      disableFileAccess: true,
      disableUrlAccess: true,
    } satisfies SMTPTransport.Options);
    try {
      return await transport.sendMail({ ...mail, attachments });
    } finally {
      transport.close();
    }
  } finally {
    for (const s of streams) if (!s.destroyed) s.destroy();
  }
}

export const smtpConnector: Connector<SmtpOptions> = {
  type: 'smtp',
  optionsSchema: smtpOptionsSchema,
  parseOptions: (raw) => parseOptions(smtpOptionsSchema, raw),

  preview: (job, o) => [
    ...previewTemplate('from', o.from, () => {
      const from = renderFrom(o.from, job.fields);
      return from.name ? `${from.name} <${from.address}>` : from.address;
    }),
    ...previewAddresses('to', o.to, job.fields),
    ...previewAddresses('cc', o.cc, job.fields),
    ...previewTemplate('subject', o.subject, () => renderTemplate(o.subject, job.fields, 'header')),
    ...previewTemplate('body', o.body, () => renderTemplate(o.body, job.fields, 'text')),
  ],

  // Office 365 SMTP submits as the connection's account: that mailbox's 30 messages a minute.
  pace: (_job, o) =>
    o.auth.kind === 'microsoft365' ? [{ budget: 'exchangeMessages', key: `mailbox:${o.auth.user.toLowerCase()}`, amount: 1 }] : [],

  async deliver(job, options, context) {
    const total = job.files.reduce((sum, f) => sum + f.size, 0);
    if (total > options.maxMessageBytes) {
      throw new PermanentDeliveryError(
        'too_large',
        `The attachments total ${total} bytes, over this destination's limit of ${options.maxMessageBytes} bytes (maxMessageBytes); the message was not sent.`,
      );
    }
    const mail: Mail.Options = {
      from: renderFrom(options.from, job.fields),
      to: renderAddresses(options.to, job.fields, 'to'),
      cc: options.cc ? renderAddresses(options.cc, job.fields, 'cc') : undefined,
      subject: renderTemplate(options.subject, job.fields, 'header'),
      text: renderTemplate(options.body, job.fields, 'text'),
    };
    const a = options.auth;
    try {
      const info =
        a.kind === 'system'
          ? await sendOnce(job, options, mail, await systemAuth(a, context))
          : await submissionSlots.run(a.user, () => sendMicrosoft365(job, options, mail, a, context));
      return { remoteId: info.messageId };
    } catch (err) {
      // A certificate that fails verification is the configuration's to fix: permanent, naming it.
      const refused = await certificateRefused(err, {
        label: `SMTP delivery to ${a.host}:${a.port}`,
        target: {
          host: a.host,
          port: a.port,
          starttls: a.kind === 'system' && a.secure ? undefined : 'smtp',
          timeoutMs: options.timeoutMs,
        },
        caOptions: '"tls.ca"',
        hostOption: '"auth.host"',
      });
      throw refused ?? classify(err, a);
    }
  },
};

/**
 * Exchange Online's SMTP AUTH submission takes at most 3 concurrent connections per mailbox and
 * refuses the next with "432 4.3.2 Concurrent connections limit exceeded"
 * (https://learn.microsoft.com/exchange/troubleshoot/send-emails/smtp-submission-improvements):
 * a burst of scans from one account waits for one of its 3 here instead. Per instance, as
 * Outlook's mailbox slots (docs/architecture.md, the rate governor).
 */
export const EXCHANGE_SMTP_CONNECTIONS = 3;
const submissionSlots = new KeyedSlots(EXCHANGE_SMTP_CONNECTIONS);

/** The sender: the template must render to exactly one address. */
function renderFrom(template: string, fields: Readonly<Record<string, string>>) {
  const from = renderAddresses(template, fields, 'from');
  if (from.length !== 1) throw new PermanentDeliveryError('invalid_address', '"from" must render to exactly one address.');
  return from[0]!;
}

async function systemAuth(
  a: Extract<SmtpAuthOptions, { kind: 'system' }>,
  context: DeliveryContext,
): Promise<SMTPTransport.Options['auth']> {
  if (!a.user || !a.passwordSecret) return undefined;
  return { user: a.user, pass: await context.getSecret(a.passwordSecret) };
}

async function sendMicrosoft365(
  job: DeliveryJob,
  options: SmtpOptions,
  mail: Mail.Options,
  a: Extract<SmtpAuthOptions, { kind: 'microsoft365' }>,
  context: DeliveryContext,
): Promise<SMTPTransport.SentMessageInfo> {
  let renewed = false;
  // A failure to get the new token is reported as itself (a network error stays transient), not as EAUTH.
  let renewError: unknown;
  const renew = async (): Promise<string> => {
    renewed = true;
    return context.getAccessToken(a.connectionId, { forceRefresh: true });
  };
  const oauth = (accessToken: string): SMTPTransport.Options['auth'] => ({
    type: 'OAuth2',
    user: a.user,
    accessToken,
    // A 334 XOAUTH2 error challenge (the token was refused): nodemailer asks once for a new one.
    provisionCallback: (_user, _renew, callback) => {
      if (renewed) return callback(new Error('The renewed access token was refused too.'));
      renew().then(
        (t) => callback(null, t),
        (err: Error) => {
          renewError = err;
          callback(err);
        },
      );
    },
  });
  const first = await context.getAccessToken(a.connectionId);
  try {
    return await sendOnce(job, options, mail, oauth(first));
  } catch (err) {
    // A plain 535 (what Exchange Online answers): renew the token once and send again.
    if (renewError) throw renewError instanceof Error ? renewError : new Error('renewing the access token failed');
    if (renewed || !isTokenRefused(err)) throw err;
    return sendOnce(job, options, mail, oauth(await renew()));
  }
}
