/**
 * A recording SMTP server on loopback (smtp-server), STARTTLS with the test certificate: every
 * message with its envelope, the authentications tried, the connections made.
 *
 * `connectionsPerUser` makes it Exchange Online's SMTP AUTH submission: "Up to three concurrent
 * connections are allowed to send email messages at the same time ... each connection will
 * receive the following error message: 432 4.3.2 Concurrent connections limit exceeded."
 * (https://learn.microsoft.com/exchange/troubleshoot/send-emails/smtp-submission-improvements):
 * an authentication that would make one user's sessions more than that is refused so;
 * `maxConnectionsPerUser` is the most one user had at once. `dataDelayMs` answers each message
 * that much later (so that a client's connections really overlap).
 */
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { SMTPServer, type SMTPServerAuthentication, type SMTPServerOptions, type SMTPServerSession } from 'smtp-server';

const TLS_DIR = join(__dirname, '..', 'fixtures', 'tls');
const KEY = readFileSync(join(TLS_DIR, 'server-key.pem'));
const CERT = readFileSync(join(TLS_DIR, 'server.pem'));

export interface ReceivedMessage {
  raw: Buffer;
  mailFrom: string;
  rcptTo: string[];
  user: unknown;
  /** Whether the session was encrypted (implicit TLS or STARTTLS) when the message came. */
  secure: boolean;
}

export interface TestSmtpServer {
  port: number;
  messages: ReceivedMessage[];
  connections: number;
  /** The most sessions one authenticated user had open at once. */
  maxConnectionsPerUser: number;
  /** Authentications refused with 432 4.3.2 (connectionsPerUser). */
  refusedConcurrent: number;
  auths: SMTPServerAuthentication[];
  stop(): Promise<void>;
}

export interface SmtpLimits {
  connectionsPerUser?: number;
  dataDelayMs?: number;
}

export async function startSmtp(options: Partial<SMTPServerOptions> & SmtpLimits = {}): Promise<TestSmtpServer> {
  const { connectionsPerUser, dataDelayMs = 0, ...serverOptions } = options;
  const state: TestSmtpServer = {
    port: 0,
    messages: [],
    connections: 0,
    maxConnectionsPerUser: 0,
    refusedConcurrent: 0,
    auths: [],
    stop: async () => {},
  };
  const open = new Map<string, number>(); // user → sessions authenticated as them, open now
  const userOf = new Map<string, string>(); // session id → user
  const server = new SMTPServer({
    secure: false,
    key: KEY,
    cert: CERT,
    logger: false,
    authOptional: true,
    onConnect(_session, callback) {
      state.connections++;
      callback();
    },
    onData(stream, session: SMTPServerSession, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () =>
        setTimeout(() => {
          state.messages.push({
            raw: Buffer.concat(chunks),
            mailFrom: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
            rcptTo: session.envelope.rcptTo.map((r) => r.address),
            user: session.user,
            secure: session.secure,
          });
          callback();
        }, dataDelayMs),
      );
    },
    onClose(session) {
      const user = userOf.get(session.id);
      if (user === undefined) return;
      userOf.delete(session.id);
      open.set(user, open.get(user)! - 1);
    },
    ...serverOptions,
    ...(serverOptions.onAuth
      ? {
          onAuth(auth, session, callback) {
            state.auths.push(auth);
            serverOptions.onAuth!(auth, session, (err, response) => {
              const user = auth.username ?? '';
              if (err || connectionsPerUser === undefined || !response?.user) return callback(err, response);
              if ((open.get(user) ?? 0) >= connectionsPerUser) {
                state.refusedConcurrent++;
                return callback(Object.assign(new Error('4.3.2 Concurrent connections limit exceeded'), { responseCode: 432 }));
              }
              open.set(user, (open.get(user) ?? 0) + 1);
              userOf.set(session.id, user);
              state.maxConnectionsPerUser = Math.max(state.maxConnectionsPerUser, open.get(user)!);
              callback(null, response);
            });
          },
        }
      : {}),
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  // A client that refuses the certificate closes the socket mid-handshake: smtp-server emits that as 'error'.
  server.on('error', () => undefined);
  state.port = (server.server.address() as AddressInfo).port;
  state.stop = () => new Promise<void>((resolve) => server.close(() => resolve()));
  return state;
}
