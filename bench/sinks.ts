/**
 * Bench child: the destinations' far ends, in their own process so that ScanRelay's CPU and RSS
 * are its own. An SMTP sink (smtp-server; message data counted and discarded as it streams),
 * the local Microsoft Graph server (test/helpers/graphServer.ts, one drive for the bench user),
 * a second one with Outlook's limits on a shortened clock for the paced-mailbox run
 * (bench/pacedLimits.ts), and the test OIDC server (app-only tokens for application mode).
 * IPC: sends { type: 'ready', smtpPort, graphBaseUrl, pacedGraphBaseUrl, idpBaseUrl, clientId, clientSecret, tenant }
 * once; answers { type: 'count' } with { type: 'count', smtp, smtpBytes, graph }, and { type: 'subjects' } with
 * { type: 'subjects', subjects } (accepted mails per Subject, for the load run's exactly-once check),
 * and { type: 'paced' } with the paced mailbox's sent times, subjects, 429s and most requests in flight.
 */
import { SMTPServer } from 'smtp-server';
import { DEFAULT_CLIENT, DEFAULT_USER, startOidcServer } from '../test/helpers/oidcServer';
import { startGraphServer } from '../test/helpers/graphServer';
import { PACED_OUTLOOK_LIMITS, PACED_UPN } from './pacedLimits';

export const BENCH_UPN = 'bench@contoso.example';

async function main(): Promise<void> {
  let smtp = 0;
  let smtpBytes = 0;
  const subjects: Record<string, number> = {};
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS', 'AUTH'],
    logger: false,
    size: 512 * 1024 * 1024,
    onData(stream, _session, callback) {
      let head = '';
      stream.on('data', (c: Buffer) => {
        smtpBytes += c.length;
        if (head.length < 4096) head += c.toString('latin1');
      });
      stream.on('end', () => {
        smtp++;
        const subject = /^Subject: (.*)$/im.exec(head)?.[1]?.trim() ?? '';
        subjects[subject] = (subjects[subject] ?? 0) + 1;
        callback();
      });
    },
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const smtpPort = (server.server.address() as { port: number }).port;
  const graph = await startGraphServer({ meUpn: BENCH_UPN });
  graph.addDrive('drv-bench', { ownerUpn: BENCH_UPN });
  const paced = await startGraphServer({ meUpn: PACED_UPN, ...PACED_OUTLOOK_LIMITS });
  paced.acceptToken(() => ({ app: true }));
  const idp = await startOidcServer();
  const uploads = () => graph.requests.filter((r) => r.status === 201 || r.status === 200).filter((r) => r.method === 'PUT').length;

  process.on('message', (m: { type: string }) => {
    if (m.type === 'count') process.send!({ type: 'count', smtp, smtpBytes, graph: uploads() });
    if (m.type === 'subjects') process.send!({ type: 'subjects', subjects });
    if (m.type === 'paced') {
      const pacedSubjects: Record<string, number> = {};
      for (const sent of paced.sentMail) {
        const subject = String((sent.message as { subject?: unknown }).subject);
        pacedSubjects[subject] = (pacedSubjects[subject] ?? 0) + 1;
      }
      process.send!({
        type: 'paced',
        sentTimes: paced.mail.sentTimes(PACED_UPN),
        subjects: pacedSubjects,
        throttled: paced.mail.throttled(PACED_UPN),
        maxConcurrent: paced.mail.maxConcurrent(PACED_UPN),
      });
    }
    if (m.type === 'stop') {
      server.close(() => undefined);
      void Promise.all([graph.stop(), paced.stop(), idp.stop()]).then(() => process.exit(0));
    }
  });
  process.send!({
    type: 'ready',
    smtpPort,
    graphBaseUrl: graph.baseUrl,
    pacedGraphBaseUrl: paced.baseUrl,
    idpBaseUrl: idp.baseUrl,
    clientId: DEFAULT_CLIENT.clientId,
    clientSecret: DEFAULT_CLIENT.clientSecret,
    tenant: DEFAULT_USER.tid,
  });
}

void main();
