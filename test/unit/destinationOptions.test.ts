import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CONNECTORS } from '../../shared/delivery/connectors';
import { parseDestinations } from '../../shared/delivery/destinations';
import { OptionsError } from '../../shared/delivery/options';
import { renderOptionTables } from '../../shared/delivery/optionsDoc';

describe('connector options', () => {
  it('the option tables of docs/destinations.md are what `npm run docs` generates from the schemas (run `npm run docs` when this fails)', () => {
    const committed = readFileSync(join(__dirname, '..', '..', 'docs', 'destinations.md'), 'utf8');
    expect(committed).toBe(renderOptionTables(committed));
  });

  it.each(Object.keys(CONNECTORS))('%s parses its options with its schema', (type) => {
    const connector = CONNECTORS[type]!;
    expect(connector.optionsSchema.safeParse('not an object').success).toBe(false);
    expect(() => connector.parseOptions('not an object')).toThrow(OptionsError);
    expect(() => connector.parseOptions('not an object')).toThrow(/^The options must be an object/);
  });

  const http = { id: 'fax', type: 'httpForward', when: {}, options: { url: 'https://fax.example.net/api' } };
  const smtp = { id: 'mail', type: 'smtp', when: {}, options: { from: 'a@b.example', to: 'c@d.example', subject: 's' } };
  const refused = (destinations: unknown[]) => {
    try {
      parseDestinations({ version: 1, destinations }, CONNECTORS);
    } catch (err) {
      return (err as Error).message;
    }
    throw new Error('accepted');
  };

  it.each<[string, unknown[], string]>([
    [
      'a nested option',
      [http, { ...smtp, options: { ...smtp.options, auth: { kind: 'system', host: 'mail.example', port: 0 } } }],
      'destinations[1].options.auth.port must be a port number (1-65535).',
    ],
    [
      'a field that is not a name',
      [{ ...http, options: { ...http.options, extraFields: { 'fax to': 5 } } }],
      'destinations[0].options.extraFields["fax to"] must be a string (a template).',
    ],
    ['options that are not an object', [{ ...http, options: 'https://fax.example.net' }], 'destinations[0].options must be an object.'],
    [
      'a check of two options',
      [{ ...smtp, options: { ...smtp.options, auth: { kind: 'system', host: 'mail.example', port: 25, allowPlaintextAuth: true } } }],
      'destinations[0].options.auth.allowPlaintextAuth applies to a password: it needs "auth.user" and "auth.passwordSecret"',
    ],
  ])('names the path of %s in one sentence', (_name, destinations, message) => {
    expect(refused(destinations)).toContain(`Configuration setting DESTINATIONS_FILE: ${message}`);
  });

  it('never repeats the value it refuses', () => {
    const message = refused([{ ...http, options: { url: 'https://scanner:s3cret-pa55@fax.example.net/api' } }]);
    expect(message).toBe(
      'Configuration setting DESTINATIONS_FILE: destinations[0].options.url must not carry credentials; use "bearerTokenSecret".',
    );
    expect(refused([{ ...http, options: { ...http.options, bearerTokenSecret: { token: 's3cret-pa55' } } }])).not.toContain('s3cret');
  });
});

describe('graphMail: each option belongs to one "auth"', () => {
  const message = { to: '%userEmail%', subject: 'Scan' };
  const parse = (raw: Record<string, unknown>) => CONNECTORS.graphMail!.parseOptions({ ...message, ...raw });
  const refusal = (raw: Record<string, unknown>) => {
    try {
      parse(raw);
    } catch (err) {
      expect(err).toBeInstanceOf(OptionsError);
      return (err as Error).message;
    }
    throw new Error('accepted');
  };

  it('delegated (the default) needs a connection and sends as its account', () => {
    expect(parse({ connectionId: 'mail' })).toMatchObject({ auth: 'delegated', connectionId: 'mail' });
    expect(parse({ connectionId: 'mail' })).not.toHaveProperty('from');
    expect(refusal({})).toBe('"connectionId" must name an authorized connection.');
  });

  it('application sends as "from", the scanning user unless it names another', () => {
    expect(parse({ auth: 'application' })).toMatchObject({ auth: 'application', from: '%userEmail%' });
    expect(parse({ auth: 'application' })).not.toHaveProperty('connectionId');
    expect(parse({ auth: 'application', from: 'scans@contoso.com' })).toMatchObject({ from: 'scans@contoso.com' });
  });

  it("refuses the other auth's option with a reason, never ignores it", () => {
    expect(refusal({ auth: 'application', connectionId: 'mail' })).toBe(
      '"connectionId" is for "auth": "delegated"; "application" sends with the app registration\'s own permissions.',
    );
    expect(refusal({ connectionId: 'mail', from: '%userEmail%' })).toBe(
      '"from" is for "auth": "application"; a delegated destination sends as the account that authorized the connection.',
    );
    expect(refusal({ auth: 'delegated', from: '%userEmail%' })).toMatch(/^"from" is for "auth": "application"/);
    expect(refusal({ auth: 'app' })).toBe('"auth" must be "delegated" or "application".');
  });

  it('in a destinations file, the refusal names the destination and the option', () => {
    expect(() =>
      parseDestinations(
        {
          version: 1,
          destinations: [{ id: 'mail', type: 'graphMail', when: {}, options: { ...message, auth: 'application', connectionId: 'c' } }],
        },
        CONNECTORS,
      ),
    ).toThrow('destinations[0].options.connectionId is for "auth": "delegated"');
  });
});
