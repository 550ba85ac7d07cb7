/**
 * A mailbox source's options as the docs and the console's form see them: docs/mailbox-ingest.md's
 * table is what `npm run docs` generates from the schema, every option has a description and a
 * kind, and the form's controls are read and its problems placed by top-level paths.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { schemaFields } from '../../shared/delivery';
import { optionHint, optionProblem, plainText, readOptions } from '../../shared/console/optionsForm';
import { mailboxSourceSchema } from '../../shared/mailbox';
import { renderSourceOptionsDoc, SOURCE_OPTIONS_END, SOURCE_OPTIONS_START } from '../../shared/mailbox/sourceDoc';

const fields = schemaFields(mailboxSourceSchema);
const byKey = Object.fromEntries(fields.map((f) => [f.key, f]));

describe('mailbox source options', () => {
  it('the options table of docs/mailbox-ingest.md is what `npm run docs` generates from the schema (run `npm run docs` when this fails)', () => {
    const committed = readFileSync(join(__dirname, '..', '..', 'docs', 'mailbox-ingest.md'), 'utf8');
    expect(committed).toBe(renderSourceOptionsDoc(committed));
    expect(committed).toContain('| `allowedSenders` | required |');
  });

  it('refuses a page without the markers, or with them twice', () => {
    expect(() => renderSourceOptionsDoc('# Mailbox ingest\n')).toThrow(/between/);
    const twice = `${SOURCE_OPTIONS_START}\n${SOURCE_OPTIONS_END}\n${SOURCE_OPTIONS_START}\n${SOURCE_OPTIONS_END}\n`;
    expect(() => renderSourceOptionsDoc(twice)).toThrow(/once/);
  });

  it('gives every option with a description, its kind and its default', () => {
    for (const f of fields) expect([f.key, f.description]).not.toEqual([f.key, '']);
    expect(byKey.mailbox).toMatchObject({ kind: 'text', required: true });
    expect(byKey.folder).toMatchObject({ kind: 'text', required: false, defaultJson: '"Inbox"' });
    expect(byKey.access).toMatchObject({ kind: 'choice', choices: ['delegated', 'application'], defaultJson: '"delegated"' });
    expect(byKey.connectionId).toMatchObject({ kind: 'text', required: false });
    expect(byKey.allowedSenders).toMatchObject({ kind: 'json', required: true });
    expect(byKey.includeInline).toMatchObject({ kind: 'flag', defaultJson: 'false' });
    expect(byKey.maxMessageBytes).toMatchObject({ kind: 'number', defaultJson: String(35 * 1024 * 1024) });
    expect(optionHint(byKey.allowedSenders!)).toContain('or * for anyone');
  });

  it('reads the form controls as options and places a problem by its top-level path', () => {
    const form = new URLSearchParams({
      'opt.mailbox': 'scans@contoso.com',
      'opt.allowedSenders': '["contoso.com"]',
      'opt.maxMessageBytes': '1000',
      'opt.enabled': 'false',
      'opt.folder': '',
    });
    expect(readOptions(fields, form)).toMatchObject({
      options: { mailbox: 'scans@contoso.com', allowedSenders: ['contoso.com'], maxMessageBytes: 1000, enabled: false },
      errors: {},
    });
    expect(readOptions(fields, new URLSearchParams({ 'opt.allowedSenders': '[contoso' })).errors['opt.allowedSenders']).toMatch(
      /^Not valid JSON/,
    );
    expect(optionProblem(fields, 'allowedSenders.1', 'must be an address', '')).toEqual({
      name: 'opt.allowedSenders',
      text: 'allowedSenders.1: must be an address',
    });
    expect(optionProblem(fields, 'connectionId', 'must name a connection', '')).toEqual({
      name: 'opt.connectionId',
      text: 'must name a connection',
    });
    expect(optionProblem(fields, 'id', 'x', '')).toBeUndefined();
    expect(optionProblem(fields, 'options.mailbox', 'x')).toEqual({ name: 'opt.mailbox', text: 'x' });
    expect(plainText('`*` for anyone, *emphasis*')).toBe('* for anyone, emphasis');
  });
});
