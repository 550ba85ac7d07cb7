/** A mailbox source's options, the sender and attachment filters, and the queue's work items. */
import { mailboxSourceSchema, senderAllowed, typeAllowed } from '../../shared/mailbox';
import { optionIssues } from '../../shared/delivery/options';
import { mailboxWorkOf } from '../../shared/storage';

const base = { mailbox: 'Scans@Contoso.com', access: 'application', workflowName: 'Scan to mail', allowedSenders: ['contoso.com'] };
const problems = (raw: unknown) => optionIssues(mailboxSourceSchema, raw).map((p) => `${p.path.join('.')}: ${p.problem}`);

describe('mailbox source options', () => {
  it('fills the defaults a printer mailbox wants, and lower-cases the mailbox', () => {
    const o = mailboxSourceSchema.parse(base);
    expect(o).toMatchObject({
      mailbox: 'scans@contoso.com',
      folder: 'Inbox',
      afterStored: 'move',
      processedFolder: 'ScanRelay/Processed',
      rejectedFolder: 'ScanRelay/Rejected',
      includeInline: false,
      includeAttachedMessages: false,
      maxMessageBytes: 35 * 1024 * 1024,
      enabled: true,
    });
    expect(o.attachmentTypes).toContain('pdf');
  });

  it.each([
    [{ ...base, allowedSenders: [] }, 'allowedSenders: must name at least one'],
    [{ ...base, allowedSenders: undefined }, 'allowedSenders'],
    [{ ...base, allowedSenders: ['bob@x\r\nBcc: evil@y'] }, 'allowedSenders.0: must be an address, a domain'],
    [{ ...base, mailbox: 'not an address' }, 'mailbox: must be the mailbox address'],
    [{ ...base, mailbox: 'a@b.c, d@e.f' }, 'mailbox: must be the mailbox address'],
    [{ ...base, access: 'delegated' }, 'connectionId: must name an authorized mailboxIngest connection'],
    [{ ...base, connectionId: 'c1' }, 'connectionId: is for "access": "delegated"'],
    [{ ...base, folder: '../Inbox//x' }, 'folder: must be a folder path'],
    [{ ...base, folder: 'Inbox\u0000' }, 'folder: must be a folder path'],
    [{ ...base, rejectedFolder: 'inbox' }, 'rejectedFolder: must differ from "folder"'],
    [{ ...base, processedFolder: 'INBOX' }, 'processedFolder: must differ from "folder"'],
    [{ ...base, afterStored: 'archive' }, 'afterStored: must be "move", "deletedItems" or "delete"'],
    [{ ...base, attachmentTypes: ['.p df'] }, 'attachmentTypes.0: must be a file extension'],
    [{ ...base, maxMessageBytes: 0 }, 'maxMessageBytes: must be a whole number'],
    [{ ...base, workflowName: 'a\nb' }, 'workflowName: must be at most 200 characters, no control characters'],
    [{ ...base, unknownOption: true }, ''],
  ])('refuses %j', (raw, expected) => {
    const found = problems(raw);
    expect(found.length).toBeGreaterThan(0);
    expect(found.join('\n')).toContain(expected);
  });

  it('accepts a delegated source with its connection, and deletion without a processed folder check', () => {
    expect(
      problems({ ...base, access: 'delegated', connectionId: 'scans-mailbox', afterStored: 'delete', processedFolder: 'Inbox' }),
    ).toEqual([]);
  });
});

describe('senderAllowed', () => {
  const rules = ['contoso.com', '@fabrikam.example', 'mfp-7@partner.example'];
  it.each([
    ['ada@contoso.com', true],
    ['ADA@CONTOSO.COM', true],
    ['x@fabrikam.example', true],
    ['mfp-7@partner.example', true],
    ['other@partner.example', false],
    ['ada@evilcontoso.com', false],
    ['ada@contoso.com.evil.example', false],
    ['', false],
  ])('%s → %s', (address, allowed) => expect(senderAllowed(address, rules)).toBe(allowed));
  it('"*" accepts anyone', () => expect(senderAllowed('who@ever.example', ['*'])).toBe(true));
});

describe('typeAllowed', () => {
  it.each([
    ['scan.PDF', true],
    ['scan.tar.pdf', true],
    ['scan.pdf.exe', false],
    ['pdf', false],
    ['.pdf', false],
    ['scan', false],
  ])('%s → %s', (name, allowed) => expect(typeAllowed(name, ['pdf', 'tif'])).toBe(allowed));
  it('"*" accepts any file', () => expect(typeAllowed('x.bin', ['*'])).toBe(true));
});

describe('mailbox work from the queue', () => {
  it('reads the three kinds', () => {
    expect(mailboxWorkOf({ kind: 'message', sourceId: 's', messageId: 'm' })).toEqual({ kind: 'message', sourceId: 's', messageId: 'm' });
    expect(mailboxWorkOf(JSON.stringify({ kind: 'read', sourceId: 's' }))).toEqual({ kind: 'read', sourceId: 's' });
    expect(mailboxWorkOf({ kind: 'lifecycle', sourceId: 's', subscriptionId: 'x', event: 'missed' })).toEqual({
      kind: 'lifecycle',
      sourceId: 's',
      subscriptionId: 'x',
      event: 'missed',
    });
  });
  it.each([
    [null],
    ['{'],
    [{ kind: 'message', sourceId: 's' }],
    [{ kind: 'lifecycle', sourceId: 's', subscriptionId: 'x', event: 'reboot' }],
    [{ kind: 'read' }],
    [{ kind: 'delete', sourceId: 's' }],
  ])('drops %j', (m) => expect(mailboxWorkOf(m)).toBeUndefined());
});
