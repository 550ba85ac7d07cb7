/** The connectors' options as form fields (shared/delivery optionFields) and the console's reading of them (shared/console/optionsForm). */
import { CONNECTORS, optionFields } from '../../shared/delivery';
import {
  optionControls,
  optionHint,
  optionProblem,
  optionValues,
  plainText,
  readOptions,
  unknownOptions,
} from '../../shared/console/optionsForm';

const byKey = (type: string) => Object.fromEntries(optionFields(type).map((f) => [f.key, f]));

describe('optionFields', () => {
  it('gives every top-level option of graphMail with its kind, whether it is required, its default and its description', () => {
    const f = byKey('graphMail');
    expect(Object.keys(f)).toEqual([
      'auth',
      'connectionId',
      'from',
      'to',
      'cc',
      'bcc',
      'subject',
      'body',
      'bodyType',
      'saveToSentItems',
      'maxMessageBytes',
    ]);
    expect(f.to).toEqual({
      key: 'to',
      required: true,
      description: 'The recipients: an address *template*, comma-separated; each item must render to one address.',
      kind: 'text',
    });
    expect(f.auth).toMatchObject({ kind: 'choice', choices: ['delegated', 'application'], defaultJson: '"delegated"' });
    expect(f.connectionId).toMatchObject({ kind: 'text', required: false });
    expect(f.from).toMatchObject({ kind: 'text', required: false });
    expect(f.cc).toMatchObject({ kind: 'text', required: false });
    expect(f.cc!.defaultJson).toBeUndefined();
    expect(f.body).toMatchObject({ kind: 'text', required: false, defaultJson: '""' });
    expect(f.bodyType).toMatchObject({ kind: 'choice', choices: ['text', 'html'], defaultJson: '"text"' });
    expect(f.saveToSentItems).toMatchObject({ kind: 'flag', defaultJson: 'true' });
    expect(f.maxMessageBytes).toMatchObject({ kind: 'number', defaultJson: String(35 * 1024 * 1024) });
  });

  it('looks through transforms and coercion, and makes objects, records and unions JSON', () => {
    const http = byKey('httpForward');
    expect(http.url).toMatchObject({ kind: 'text', required: true }); // a string transformed into a URL
    expect(http.timeoutSeconds).toMatchObject({ kind: 'number', defaultJson: '120' }); // z.coerce.number
    expect(http.extraFields).toMatchObject({ kind: 'json', defaultJson: '{}' });
    expect(http.tls).toMatchObject({ kind: 'json', required: false });
    const smtp = byKey('smtp');
    expect(smtp.auth).toMatchObject({ kind: 'json', required: true }); // a discriminated union
    expect(byKey('fileShare').basePath).toMatchObject({ kind: 'text', required: true });
    expect(byKey('oneDrive').auth).toMatchObject({ kind: 'choice', choices: ['delegated', 'application'], defaultJson: '"delegated"' });
  });

  it.each(Object.keys(CONNECTORS))('%s: every option has a description', (type) => {
    expect(optionFields(type).length).toBeGreaterThan(0);
    for (const f of optionFields(type)) expect(f.description).not.toBe('');
  });

  it('gives no fields for a type no connector has', () => {
    expect(optionFields('nope')).toEqual([]);
  });
});

describe('the console form of the options', () => {
  const form = (entries: Record<string, string>) => new URLSearchParams(entries);

  it('reads each kind: text as typed, numbers, flags, choices and JSON; an empty control leaves its option out', () => {
    const r = readOptions(
      'graphMail',
      form({
        'opt.connectionId': 'mail',
        'opt.to': ' %userEmail% ',
        'opt.cc': '',
        'opt.bcc': '   ',
        'opt.subject': 'Scan',
        'opt.bodyType': 'html',
        'opt.saveToSentItems': 'false',
        'opt.maxMessageBytes': ' 1024 ',
        'opt.unknown': 'ignored',
      }),
    );
    expect(r.errors).toEqual({});
    expect(r.options).toEqual({
      connectionId: 'mail',
      to: ' %userEmail% ',
      subject: 'Scan',
      bodyType: 'html',
      saveToSentItems: false,
      maxMessageBytes: 1024,
    });
    expect(r.values['opt.cc']).toBe('');
    expect(r.values['opt.to']).toBe(' %userEmail% ');
    expect(readOptions('graphMail', form({ 'opt.saveToSentItems': '' })).options).toEqual({}); // Default: absent
    expect(readOptions('graphMail', form({ 'opt.saveToSentItems': 'true' })).options).toEqual({ saveToSentItems: true });
  });

  it('passes a number typed as text as typed, so the validator names it', () => {
    const r = readOptions('httpForward', form({ 'opt.url': 'https://x.example', 'opt.timeoutSeconds': '2 minutes' }));
    expect(r.options).toEqual({ url: 'https://x.example', timeoutSeconds: '2 minutes' });
    const problems = CONNECTORS.httpForward!.optionsSchema.safeParse(r.options);
    expect(problems.success).toBe(false);
    expect(problems.error?.issues.map((i) => [i.path.join('.'), i.message])).toEqual([
      ['timeoutSeconds', 'must be a whole number from 1 to 600'],
    ]);
    expect(readOptions('httpForward', form({ 'opt.timeoutSeconds': '-1.5e2' })).options).toEqual({ timeoutSeconds: -150 });
  });

  it('parses a JSON option, and names the control of one that does not parse', () => {
    const ok = readOptions('smtp', form({ 'opt.auth': '{"kind": "system", "host": "mail", "port": 25}', 'opt.tls': '' }));
    expect(ok.options).toEqual({ auth: { kind: 'system', host: 'mail', port: 25 } });
    const bad = readOptions('smtp', form({ 'opt.auth': '{kind: system}' }));
    expect(Object.keys(bad.errors)).toEqual(['opt.auth']);
    expect(bad.errors['opt.auth']).toMatch(/^Not valid JSON: /);
    expect(bad.options).toEqual({});
    expect(bad.values['opt.auth']).toBe('{kind: system}'); // kept
  });

  it('shows stored options in their controls, and reads them back the same', () => {
    const stored = { connectionId: 'mail', to: 'a@b.example', subject: 's', saveToSentItems: false, maxMessageBytes: 5 };
    const values = optionValues('graphMail', stored);
    expect(values).toMatchObject({ 'opt.to': 'a@b.example', 'opt.saveToSentItems': 'false', 'opt.maxMessageBytes': '5', 'opt.cc': '' });
    expect(readOptions('graphMail', new URLSearchParams(values)).options).toEqual(stored);
    const smtp = optionValues('smtp', { auth: { kind: 'microsoft365', connectionId: 'c', user: 'u@d.example' } });
    expect(JSON.parse(smtp['opt.auth']!)).toEqual({ kind: 'microsoft365', connectionId: 'c', user: 'u@d.example' });
    expect(unknownOptions('graphMail', { ...stored, colour: 'red' })).toEqual(['colour']);
  });

  it('puts a problem next to the control of its top-level option, naming the path below it', () => {
    expect(optionProblem('smtp', 'options.to', 'must be a non-empty string.')).toEqual({
      name: 'opt.to',
      text: 'must be a non-empty string.',
    });
    expect(optionProblem('smtp', 'options.auth.port', 'must be a port number (1-65535).')).toEqual({
      name: 'opt.auth',
      text: 'auth.port: must be a port number (1-65535).',
    });
    expect(optionProblem('smtp', 'options', 'must be an object.')).toBeUndefined();
    expect(optionProblem('smtp', 'options.colour', 'x')).toBeUndefined();
    expect(optionProblem('smtp', 'when.x', 'x')).toBeUndefined();
  });

  it('gives each option a hint: its description as plain text, and Required or its default', () => {
    const f = byKey('fileShare');
    expect(plainText('A file name *template* (see [Templates](#templates)); `x` **y**')).toBe('A file name template (see Templates); x y');
    expect(optionHint(f.conflictBehavior!)).toMatch(/^When a file of that name exists: keepBoth \(name 1\.pdf\), .* Default: keepBoth\.$/);
    expect(optionHint(f.basePath!)).toMatch(/ Required\.$/);
    expect(optionHint(f.createFolders!)).toMatch(/ Default: Yes\.$/);
    expect(optionHint(byKey('graphMail').body!)).toMatch(/ Default: empty\.$/);
    expect(optionHint(byKey('smtp').auth!)).toBe('How ScanRelay signs in to the server, by kind. Required.');
  });

  it('renders one labelled control per option, by kind, with its value and error', () => {
    // Whitespace inside the markup is Prettier's: the checks below do not depend on it.
    const text = (type: string, values: Record<string, string>, errors: Record<string, string>) =>
      optionControls(type, values, errors)
        .map((h) => h.value)
        .join(' ')
        .replace(/\s+/g, ' ')
        .replace(/ >/g, '>');
    const out = text(
      'graphMail',
      { 'opt.to': '<x@y>', 'opt.saveToSentItems': 'false', 'opt.maxMessageBytes': 'lots' },
      { 'opt.maxMessageBytes': 'must be a whole number' },
    );
    expect(out).toContain('name="opt.to"');
    expect(out).toContain('value="&lt;x@y&gt;"'); // escaped
    expect(out).toMatch(
      /<input type="text"[^>]*name="opt\.maxMessageBytes"[^>]*aria-invalid="true"[^>]*value="lots"[^>]*inputmode="numeric"/,
    );
    expect(out).toMatch(/id="f-opt-maxMessageBytes-error"> ?must be a whole number ?</);
    expect(out).toMatch(
      /<option value="">Default \(Yes\)<\/option> ?<option value="true">Yes<\/option> ?<option value="false" selected>No<\/option>/,
    );
    expect(out).toMatch(/<option value="" selected>Default \(text\)<\/option> ?<option value="text">text<\/option>/);
    const smtp = text('smtp', {}, {});
    expect(smtp).toMatch(/<label for="f-opt-auth"> ?auth \(JSON\) ?<\/label>/);
    expect(smtp).toMatch(/<textarea id="f-opt-auth" name="opt\.auth"/);
  });
});
