/**
 * The options of an `smtp` destination, as a zod schema: how to reach and sign in to the server
 * (`auth`), the message's templates, its size limit, TLS and timeouts. A password is only ever
 * sent over TLS unless `allowPlaintextAuth` says otherwise (see index.ts), so that option needs a
 * password to apply to, and is no option of `microsoft365`, whose token always goes over TLS.
 */
import { z } from 'zod';
import { anyText, connectionId, flag, text, wholeNumber } from '../options';

export const DEFAULT_MAX_MESSAGE_BYTES = 25 * 1024 * 1024;
const DEFAULT_TIMEOUT_SECONDS = 120;

const host = () =>
  z
    .string({ error: 'must be a host name or address' })
    .regex(/^[A-Za-z0-9.\-:[\]]+$/, { error: 'must be a host name or address' })
    .meta({ description: 'The server: a host name or an address.' });
const port = () => wholeNumber(1, 65535, 'must be a port number (1-65535)');

const systemAuth = z
  .object({
    kind: z.literal('system'),
    host: host(),
    port: port().meta({ description: 'The port (1–65535).' }),
    secure: flag()
      .optional()
      .meta({ description: 'Implicit TLS (SMTPS). Without it: true on port 465, otherwise STARTTLS when the server offers it.' }),
    user: text().optional().meta({ description: 'The user name to sign in with (AUTH); with `passwordSecret`.' }),
    passwordSecret: text()
      .optional()
      .meta({ description: "The secret-store name of `user`'s password, read at each delivery and only ever sent over TLS (see below)." }),
    allowPlaintextAuth: flag().default(false).meta({
      description:
        '**Unsafe**: lets the password go in clear to a server that offers no STARTTLS (see below); needs `user` and `passwordSecret`.',
    }),
  })
  .superRefine((a, ctx) => {
    const refuse = (path: string, message: string) => ctx.addIssue({ code: 'custom', path: [path], message });
    if (a.passwordSecret && !a.user) refuse('passwordSecret', 'needs "auth.user"');
    else if (a.user && !a.passwordSecret) refuse('user', 'needs "auth.passwordSecret" (the secret-store name of the password)');
    else if (a.allowPlaintextAuth && !a.user) {
      refuse(
        'allowPlaintextAuth',
        'applies to a password: it needs "auth.user" and "auth.passwordSecret" (without them nothing secret is sent)',
      );
    }
  })
  .transform((a) => ({ ...a, secure: a.secure ?? a.port === 465 }))
  .meta({ description: 'Any SMTP server, with a password from the secret store or none (a relay that accepts the app by its address).' });

const microsoft365Auth = z
  .object({
    kind: z.literal('microsoft365'),
    connectionId: connectionId().meta({
      description: 'The authorized connection of type `smtpMicrosoft` (see the README) whose access token signs in (XOAUTH2).',
    }),
    user: text()
      .regex(/^[^@\s]+@[^@\s]+$/, { error: "must be the connection account's user principal name (user@domain)" })
      .meta({ description: "The connection's account, its user principal name (`user@domain`)." }),
    host: host().default('smtp.office365.com'),
    port: port().default(587).meta({ description: 'The port (1–65535).' }),
    // Refused rather than ignored: a reader of the file must not think it does something.
    allowPlaintextAuth: z
      .undefined({ error: 'is not an option of "microsoft365": its access token is only ever sent over TLS' })
      .optional(),
  })
  .meta({
    description: 'Office 365 SMTP with OAuth 2.0 (XOAUTH2), STARTTLS required. A refused token (535) is renewed once.',
  });

const auth = z
  .discriminatedUnion('kind', [systemAuth, microsoft365Auth], {
    error: (issue) =>
      issue.code === 'invalid_union' ? 'must be "system" or "microsoft365"' : 'must be an object with "kind": "system" or "microsoft365"',
  })
  .meta({ description: 'How ScanRelay signs in to the server, by `kind`:' });

export const smtpOptionsSchema = z
  .object(
    {
      auth,
      from: text().meta({ description: 'The sender: an address *template* that renders to one address.' }),
      to: text().meta({ description: 'The recipients: an address *template*, comma-separated; each item must render to one address.' }),
      cc: text().optional().meta({ description: 'Copies: an address *template*, as `to`.' }),
      subject: text().meta({ description: 'A *template*.' }),
      body: anyText().default('').meta({ description: 'The text of the message, a *template*.' }),
      maxMessageBytes: z
        .number({ error: 'must be a positive whole number of bytes' })
        .int({ error: 'must be a positive whole number of bytes' })
        .min(1, { error: 'must be a positive whole number of bytes' })
        .default(DEFAULT_MAX_MESSAGE_BYTES)
        .meta({ description: 'The largest total of the attachments, in bytes (25 MiB), checked before connecting.' }),
      tls: z
        .object(
          {
            ca: z
              .string({ error: 'must be PEM certificate text' })
              .refine((v) => v.includes('-----BEGIN CERTIFICATE-----'), { error: 'must be PEM certificate text' })
              .optional()
              .meta({
                description:
                  "A private CA's certificate, PEM text: it then replaces the trusted CAs for this destination (see [Which CAs are trusted](#http-forward--httpforward)).",
              }),
            rejectUnauthorized: flag()
              .optional()
              .meta({ description: "`false` accepts any server certificate: unsafe, the server's identity is then not checked." }),
          },
          { error: 'must be an object' },
        )
        .optional()
        .meta({ description: "The server certificate's check." }),
      timeoutSeconds: wholeNumber(1, 600)
        .default(DEFAULT_TIMEOUT_SECONDS)
        .meta({ description: 'The connection, greeting and socket timeout, in seconds (1–600).' }),
    },
    { error: 'must be an object' },
  )
  .transform(({ timeoutSeconds, ...o }) => ({ ...o, timeoutMs: timeoutSeconds * 1000 }));

export type SmtpOptions = z.output<typeof smtpOptionsSchema>;
export type SmtpAuthOptions = SmtpOptions['auth'];
