/** The rate governor (shared/delivery/pacing.ts): its windows and holds, and what each connector charges. */
import { graphMailConnector, type GraphMailOptions } from '../../shared/delivery/graphMail';
import { oneDriveConnector, type OneDriveOptions } from '../../shared/delivery/oneDrive';
import { limitsFor, M365_LIMITS, Pacer, type Charge } from '../../shared/delivery/pacing';
import { sharePointConnector, type SharePointOptions } from '../../shared/delivery/sharePoint';
import { smtpConnector, type SmtpOptions } from '../../shared/delivery/smtp';
import type { DeliveryFile, DeliveryJob } from '../../shared/delivery/types';

const MIB = 1024 * 1024;
const file = (size: number): DeliveryFile => ({
  name: 'a.pdf',
  contentType: 'application/pdf',
  size,
  sha256: '',
  open: () => Promise.reject(new Error('unused')),
});
const job = (fields: Record<string, string>, sizes: number[] = []): DeliveryJob => ({
  jobId: 'j',
  receivedAt: new Date(),
  fields,
  files: sizes.map(file),
});
const smtp = (auth: unknown) => ({ auth, from: 'scans@contoso.example' }) as unknown as SmtpOptions;
const graph = (o: Record<string, unknown>) => o as unknown as GraphMailOptions;
const messages = (key: string): Charge => ({ budget: 'exchangeMessages', key, amount: 1 });

describe('what a delivery spends', () => {
  it('SMTP: Office 365 spends a message of the connection account (case folded); any other server nothing', () => {
    expect(smtpConnector.pace!(job({}), smtp({ kind: 'microsoft365', connectionId: 'c1', user: 'Scans@Contoso.example' }))).toEqual([
      messages('mailbox:scans@contoso.example'),
    ]);
    expect(smtpConnector.pace!(job({}), smtp({ kind: 'system', host: 'relay.contoso.example', port: 25 }))).toEqual([]);
  });

  it("Graph mail: a message and its upload (files in base64 and the message's JSON) of the sending mailbox", () => {
    const delegated = graphMailConnector.pace!(job({}, [3 * MIB]), graph({ auth: 'delegated', connectionId: 'c2' }));
    expect(delegated).toEqual([
      messages('connection:c2'),
      { budget: 'outlookUploadBytes', key: 'connection:c2', amount: expect.any(Number) },
    ]);
    expect(delegated[1]!.amount).toBeGreaterThanOrEqual(4 * MIB);
    expect(delegated[1]!.amount).toBeLessThan(4 * MIB + 128 * 1024);
    expect(
      graphMailConnector.pace!(job({ userEmail: 'Ada.Lovelace@Contoso.example' }), graph({ auth: 'application', from: '%userEmail%' }))[0],
    ).toEqual(messages('mailbox:ada.lovelace@contoso.example'));
    // No sender to render: nothing paced here; the delivery itself fails saying why.
    expect(graphMailConnector.pace!(job({}), graph({ auth: 'application', from: '%userEmail%' }))).toEqual([]);
    expect(
      graphMailConnector.pace!(job({ userEmail: 'a@x.example, b@x.example' }), graph({ auth: 'application', from: '%userEmail%' })),
    ).toEqual([]);
  });

  it("OneDrive and SharePoint: the tenant's resource units, 2 per upload request", () => {
    const o = { conflictBehavior: 'keepBoth' } as unknown as OneDriveOptions;
    // Two simple uploads; then a session for 20 MiB: the session and 2 chunks of 10 MiB.
    expect(oneDriveConnector.pace!(job({}, [MIB, MIB]), o)).toEqual([{ budget: 'sharePointUnits', key: 'sharepoint:tenant', amount: 4 }]);
    expect(oneDriveConnector.pace!(job({}, [20 * MIB]), o)[0]!.amount).toBeGreaterThanOrEqual(6);
    const append = { conflictBehavior: 'append' } as unknown as SharePointOptions;
    expect(sharePointConnector.pace!(job({}, [MIB]), append)).toEqual([{ budget: 'sharePointUnits', key: 'sharepoint:tenant', amount: 4 }]);
  });
});

describe('the pacer', () => {
  let now = 0;
  const pacer = (limits = M365_LIMITS) => new Pacer(limits, () => now);
  beforeEach(() => (now = 1_000_000));
  /** A delivery that takes its charges and ends at once (the deliverer settles them): undefined, or when there is room. */
  const send = (p: Pacer, charges: Charge[]) => {
    const room = p.take(charges);
    if (!room) p.settle(charges);
    return room;
  };

  it("paces each mailbox's messages a minute on its own, and gives back the place of a delivery that sent nothing", () => {
    const p = pacer({ ...M365_LIMITS, exchangeMessages: { perWindow: 2, windowMs: 60_000 } });
    const a = [messages('mailbox:a')];
    const start = now;
    expect(send(p, a)).toBeUndefined();
    expect(send(p, a)).toBeUndefined();
    expect(send(p, a)).toEqual(new Date(start + 60_000));
    expect(send(p, [messages('mailbox:b')])).toBeUndefined();
    // A delivery that took its place and sent nothing gives it back.
    const c = [messages('mailbox:c')];
    expect(send(p, c)).toBeUndefined();
    expect(p.take(c)).toBeUndefined();
    expect(p.take(c)).toBeInstanceOf(Date);
    p.giveBack(c);
    expect(send(p, c)).toBeUndefined();
    expect(p.take(c)).toBeInstanceOf(Date);
    now = start + 59_999;
    expect(send(p, a)).toEqual(new Date(start + 60_000));
    now = start + 60_001;
    expect(send(p, a)).toBeUndefined();
  });

  it('budgets bytes: room frees as the oldest uploads leave the window; one larger than the budget goes alone', () => {
    const p = pacer({ ...M365_LIMITS, outlookUploadBytes: { perWindow: 100, windowMs: 300_000 } });
    const bytes = (amount: number): Charge[] => [{ budget: 'outlookUploadBytes', key: 'mailbox:a', amount }];
    const t0 = now;
    expect(send(p, bytes(60))).toBeUndefined();
    now = t0 + 1_000;
    expect(send(p, bytes(30))).toBeUndefined();
    // 90 used: 50 more needs the first 60 gone; 10 more fits.
    expect(send(p, bytes(50))).toEqual(new Date(t0 + 300_000));
    expect(send(p, bytes(10))).toBeUndefined();
    expect(send(p, bytes(1))).toEqual(new Date(t0 + 300_000));
    // 150 can never fit in 100: it waits for an empty window (both of the later uploads gone).
    expect(send(p, bytes(150))).toEqual(new Date(t0 + 1_000 + 300_000));
    now = t0 + 1_000 + 300_001;
    expect(send(p, bytes(150))).toBeUndefined();
    expect(send(p, bytes(1))).toEqual(new Date(now + 300_000));
  });

  it('counts a delivery from its end once it ended (the service saw its requests later than the take)', () => {
    const p = pacer({ ...M365_LIMITS, exchangeMessages: { perWindow: 1, windowMs: 60_000 } });
    const t0 = now;
    expect(p.take([messages('mailbox:a')])).toBeUndefined();
    expect(p.take([messages('mailbox:a')])).toEqual(new Date(t0 + 60_000));
    now = t0 + 10_000;
    p.settle([messages('mailbox:a')]);
    expect(p.take([messages('mailbox:a')])).toEqual(new Date(t0 + 70_000));
    now = t0 + 70_001;
    expect(p.take([messages('mailbox:a')])).toBeUndefined();
  });

  it('keeps what a delivery still running took in the window, however long it runs', () => {
    const p = pacer({ ...M365_LIMITS, outlookUploadBytes: { perWindow: 100, windowMs: 300_000 } });
    const upload: Charge[] = [{ budget: 'outlookUploadBytes', key: 'mailbox:a', amount: 80 }];
    const t0 = now;
    expect(p.take(upload)).toBeUndefined();
    // Ten minutes into a slow upload: only its end can make room, so the answer is a window from now.
    now = t0 + 600_000;
    expect(p.take(upload)).toEqual(new Date(now + 300_000));
    p.settle(upload);
    expect(p.take(upload)).toEqual(new Date(now + 300_000));
    now += 300_001;
    expect(p.take(upload)).toBeUndefined();
  });

  it('takes all the charges of a delivery or none', () => {
    const p = pacer({ ...M365_LIMITS, exchangeMessages: { perWindow: 1, windowMs: 60_000 } });
    const upload: Charge = { budget: 'outlookUploadBytes', key: 'mailbox:a', amount: 100_000_000 };
    expect(p.take([messages('mailbox:b')])).toBeUndefined();
    // The messages of b are spent: the upload to a is not taken either.
    expect(p.take([messages('mailbox:b'), upload])).toBeInstanceOf(Date);
    expect(p.take([upload])).toBeUndefined();
    expect(p.take([{ ...upload, amount: 60_000_000 }])).toBeInstanceOf(Date);
  });

  it('holds a target that answered Retry-After until then, and only that one', () => {
    const p = pacer();
    const t0 = now;
    p.hold([messages('mailbox:a')], 30);
    expect(p.take([messages('mailbox:a')])).toEqual(new Date(t0 + 30_000));
    expect(p.take([{ budget: 'outlookUploadBytes', key: 'mailbox:a', amount: 1 }])).toEqual(new Date(t0 + 30_000));
    expect(p.take([messages('mailbox:b')])).toBeUndefined();
    now = t0 + 30_000;
    expect(p.take([messages('mailbox:a')])).toBeUndefined();
    // An absurd Retry-After holds an hour at most; a negative one not at all.
    p.hold([messages('mailbox:c')], 1e12);
    expect(p.take([messages('mailbox:c')])).toEqual(new Date(now + 3_600_000));
    p.hold([messages('mailbox:d')], -5);
    expect(p.take([messages('mailbox:d')])).toBeUndefined();
  });

  it("scales every window by the setting, and takes SharePoint's units a minute from it", () => {
    const limits = limitsFor({ sharePointUnitsPerMinute: 2_500, windowScale: 0.05 });
    expect(limits).toEqual({
      exchangeMessages: { perWindow: 30, windowMs: 3_000 },
      outlookUploadBytes: { perWindow: 150_000_000, windowMs: 15_000 },
      sharePointUnits: { perWindow: 2_500, windowMs: 3_000 },
    });
    expect(limitsFor({ sharePointUnitsPerMinute: 1_250, windowScale: 1 })).toEqual(M365_LIMITS);
  });
});
