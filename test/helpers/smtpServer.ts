/**
 * A recording SMTP server on loopback (smtp-server), STARTTLS with the test certificate: every
 * message with its envelope, the authentications tried, the connections made.
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
  auths: SMTPServerAuthentication[];
  stop(): Promise<void>;
}

export async function startSmtp(options: Partial<SMTPServerOptions> = {}): Promise<TestSmtpServer> {
  const state: TestSmtpServer = { port: 0, messages: [], connections: 0, auths: [], stop: async () => {} };
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
      stream.on('end', () => {
        state.messages.push({
          raw: Buffer.concat(chunks),
          mailFrom: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
          rcptTo: session.envelope.rcptTo.map((r) => r.address),
          user: session.user,
          secure: session.secure,
        });
        callback();
      });
    },
    ...options,
    ...(options.onAuth
      ? {
          onAuth(auth, session, callback) {
            state.auths.push(auth);
            options.onAuth!(auth, session, callback);
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
