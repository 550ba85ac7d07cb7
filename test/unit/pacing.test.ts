/** Pacing for Exchange Online's 30 messages a minute (shared/delivery/pacing.ts): the pacer's minute, and which mailbox each connector sends from. */
import { graphMailConnector, type GraphMailOptions } from '../../shared/delivery/graphMail';
import { SendPacer } from '../../shared/delivery/pacing';
import { smtpConnector, type SmtpOptions } from '../../shared/delivery/smtp';
import type { DeliveryJob } from '../../shared/delivery/types';

const job = (fields: Record<string, string>): DeliveryJob => ({ jobId: 'j', receivedAt: new Date(), fields, files: [] });
const smtp = (auth: unknown) => ({ auth, from: 'scans@contoso.example' }) as unknown as SmtpOptions;
const graph = (o: Record<string, unknown>) => o as unknown as GraphMailOptions;

it('SMTP: Office 365 paces the connection account (case folded); any other server is not paced', () => {
  expect(smtpConnector.paceKey!(job({}), smtp({ kind: 'microsoft365', connectionId: 'c1', user: 'Scans@Contoso.example' }))).toBe(
    'exchange:scans@contoso.example',
  );
  expect(smtpConnector.paceKey!(job({}), smtp({ kind: 'system', host: 'relay.contoso.example', port: 25 }))).toBeUndefined();
});

it("Graph mail: the connection's account (delegated), or the mailbox `from` renders to (application)", () => {
  expect(graphMailConnector.paceKey!(job({}), graph({ auth: 'delegated', connectionId: 'c2' }))).toBe('exchange:connection:c2');
  expect(
    graphMailConnector.paceKey!(job({ userEmail: 'Ada.Lovelace@Contoso.example' }), graph({ auth: 'application', from: '%userEmail%' })),
  ).toBe('exchange:ada.lovelace@contoso.example');
  // No sender to render: not paced here; the delivery itself fails saying why.
  expect(graphMailConnector.paceKey!(job({}), graph({ auth: 'application', from: '%userEmail%' }))).toBeUndefined();
  expect(
    graphMailConnector.paceKey!(job({ userEmail: 'a@x.example, b@x.example' }), graph({ auth: 'application', from: '%userEmail%' })),
  ).toBeUndefined();
});

it('gives back the place of a delivery that sent nothing (already delivered), and paces each mailbox on its own', () => {
  let now = 0;
  const pacer = new SendPacer(2, 60_000, () => now);
  expect(pacer.take('exchange:a@contoso.example')).toBeUndefined();
  expect(pacer.take('exchange:a@contoso.example')).toBeUndefined();
  expect(pacer.take('exchange:a@contoso.example')).toEqual(new Date(60_000));
  expect(pacer.take('exchange:b@contoso.example')).toBeUndefined();
  pacer.giveBack('exchange:a@contoso.example');
  expect(pacer.take('exchange:a@contoso.example')).toBeUndefined();
  now = 59_999;
  expect(pacer.take('exchange:a@contoso.example')).toEqual(new Date(60_000));
  now = 60_001;
  expect(pacer.take('exchange:a@contoso.example')).toBeUndefined();
});
