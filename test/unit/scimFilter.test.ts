import { isScimError } from '../../shared/scim/errors';
import { scimError } from '../helpers/scimError';
import { equalityLookup, FILTER_LIMITS, matches, parseFilter, parsePatchPath, type Filter } from '../../shared/scim/filter';
import { ENTERPRISE_USER_SCHEMA, GROUP_TYPE, SCANRELAY_USER_SCHEMA, USER_SCHEMA, USER_TYPE } from '../../shared/scim/schema';

const user: Record<string, unknown> = {
  schemas: [USER_SCHEMA, ENTERPRISE_USER_SCHEMA],
  id: '2819c223-7f76-453a-919d-413861904646',
  externalId: 'Ext-BJ',
  userName: 'Bjensen@Example.com',
  displayName: 'Babs Jensen',
  title: 'Tour Guide',
  active: true,
  name: { givenName: 'Barbara', familyName: 'Jensen' },
  emails: [
    { value: 'bjensen@example.com', type: 'work', primary: true },
    { value: 'babs@jensen.org', type: 'home' },
  ],
  phoneNumbers: [],
  nickName: '',
  [ENTERPRISE_USER_SCHEMA]: { department: 'Tour Operations', manager: { value: 'mgr-1' } },
  [SCANRELAY_USER_SCHEMA]: { homeDirectory: 'Users\\BJensen' },
  meta: { resourceType: 'User', created: '2024-01-10T09:00:00Z', lastModified: '2024-03-01T12:30:00.000Z' },
};

const group: Record<string, unknown> = {
  id: 'g-1',
  displayName: 'Scan Operators',
  members: [
    { value: 'u-1', type: 'User' },
    { value: 'U-2', type: 'User' },
  ],
  meta: { resourceType: 'Group', created: '2024-01-10T09:00:00Z', lastModified: '2024-01-10T09:00:00Z' },
};

describe('parseFilter and matches on a user', () => {
  const cases: Array<[string, boolean]> = [
    // eq, case-insensitive values (userName is caseExact: false) and names (RFC 7643 §2.1)
    ['userName eq "bjensen@example.com"', true],
    ['USERNAME EQ "BJENSEN@EXAMPLE.COM"', true],
    ['userName eq "someone@example.com"', false],
    ['urn:ietf:params:scim:schemas:core:2.0:User:userName eq "bjensen@example.com"', true],
    // caseExact: id and externalId
    ['externalId eq "Ext-BJ"', true],
    ['externalId eq "ext-bj"', false],
    ['id eq "2819C223-7F76-453A-919D-413861904646"', false],
    ['id eq "2819c223-7f76-453a-919d-413861904646"', true],
    ['urn:ietf:params:scim:schemas:extension:scanrelay:2.0:User:homeDirectory eq "users\\\\bjensen"', false],
    ['urn:ietf:params:scim:schemas:extension:scanrelay:2.0:User:homeDirectory eq "Users\\\\BJensen"', true],
    // ne
    ['title ne "Tour Guide"', false],
    ['title ne "Driver"', true],
    ['profileUrl ne "x"', true], // unassigned: ne is the negation of eq
    // co sw ew
    ['userName co "JENSEN"', true],
    ['userName sw "bj"', true],
    ['userName sw "jensen"', false],
    ['userName ew ".COM"', true],
    ['userName ew "example"', false],
    ['externalId co "bj"', false],
    // gt ge lt le on strings (lexicographic, case-insensitive)
    ['title gt "tour"', true],
    ['title ge "tour guide"', true],
    ['title lt "tour guide"', false],
    ['title le "TOUR GUIDE"', true],
    // dateTime compares instants
    ['meta.created gt "2024-01-01T00:00:00Z"', true],
    ['meta.created lt "2024-01-01T00:00:00Z"', false],
    ['meta.created eq "2024-01-10T10:00:00+01:00"', true],
    ['meta.lastModified ge "2024-03-01T12:30:00Z"', true],
    ['meta.lastModified gt "2024-03-01T12:30:00Z"', false],
    ['meta.lastModified le "2024-03-01T13:30:00.000+01:00"', true],
    // booleans
    ['active eq true', true],
    ['active eq false', false],
    ['active eq "True"', true],
    ['active ne true', false],
    // pr: present and not empty
    ['title pr', true],
    ['nickName pr', false],
    ['phoneNumbers pr', false],
    ['profileUrl pr', false],
    ['emails pr', true],
    ['emails.type pr', true],
    ['name.middleName pr', false],
    ['urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager pr', true],
    // null
    ['profileUrl eq null', true],
    ['title eq null', false],
    ['title ne null', true],
    // sub-attributes and multi-valued attributes (any value matches)
    ['name.givenName eq "barbara"', true],
    ['name.familyName sw "J"', true],
    ['emails.value eq "babs@jensen.org"', true],
    ['emails eq "BABS@jensen.org"', true], // a complex multi-valued attribute compares its value
    ['emails co "@jensen."', true],
    ['emails.type eq "other"', false],
    ['emails.primary eq true', true],
    // value paths
    ['emails[type eq "work"]', true],
    ['emails[type eq "work" and value co "@example.com"]', true],
    ['emails[type eq "work" and value co "@jensen.org"]', false], // the same element must match both
    ['emails[type eq "home" and not (primary eq true)]', true],
    ['emails[type eq "home" or type eq "other"]', true],
    ['emails[emails.type eq "work"]', true],
    ['EMAILS[TYPE EQ "WORK"]', true],
    // Entra's dialect: a value path then .sub op value
    ['emails[type eq "work"].value eq "bjensen@example.com"', true],
    ['emails[type eq "work"].value eq "babs@jensen.org"', false],
    ['emails[type eq "home"].value pr', true],
    ['emails[type eq "work"].value eq "bjensen@example.com" and userName sw "b"', true],
    // extension attributes
    ['urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department eq "tour operations"', true],
    ['urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value eq "mgr-1"', true],
    ['urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager eq "mgr-1"', true],
    ['URN:IETF:PARAMS:SCIM:SCHEMAS:EXTENSION:ENTERPRISE:2.0:USER:DEPARTMENT sw "tour"', true],
    // and / or / not / precedence / parentheses
    ['title pr and userType pr', false],
    ['title pr or userType pr', true],
    ['userType pr and title pr or userName sw "b"', true], // (F and T) or T
    ['userName sw "b" or userType pr and title pr', true], // T or (F and T)
    ['userName sw "x" or title pr and userType pr', false], // F or (T and F): and binds tighter
    ['(userName sw "x" or title pr) and userType pr', false],
    ['(userName sw "x" or title pr) and active eq true', true],
    ['not (userName sw "x")', true],
    ['not(title pr)', false],
    ['not (not (title pr))', true],
    ['((((title pr))))', true],
    ['  title   pr  ', true],
    ['userName eq "bjensen@example.com"and title pr', true],
    // JSON strings with escapes
    ['displayName eq "Babs\\u0020Jensen"', true],
    ['displayName eq "Babs \\"Jensen"', false],
    // injection-looking values are plain strings
    ['userName eq "a\' or PartitionKey ne \'"', false],
    ['userName eq "x\\" or \\"1\\" eq \\"1"', false],
    ["displayName eq \"' or ''='\"", false],
  ];

  test.each(cases)('%s → %s', (text, expected) => {
    expect(matches(parseFilter(text, USER_TYPE), user, USER_TYPE)).toBe(expected);
  });

  test('values are compared as sent, keys found case-insensitively', () => {
    const odd = { USERNAME: 'x@y', Emails: [{ VALUE: 'a@b', Type: 'work' }] };
    expect(matches(parseFilter('userName eq "X@Y"', USER_TYPE), odd, USER_TYPE)).toBe(true);
    expect(matches(parseFilter('emails[type eq "work"].value eq "A@B"', USER_TYPE), odd, USER_TYPE)).toBe(true);
  });
});

describe('parseFilter and matches on a group', () => {
  const cases: Array<[string, boolean]> = [
    ['displayName eq "scan operators"', true],
    ['members[value eq "u-1"]', true],
    ['members[value eq "u-2"]', false], // members.value is caseExact
    ['members.value eq "U-2"', true],
    ['members eq "u-1"', true],
    ['members[type eq "group"]', false],
    ['members pr', true],
    ['externalId pr', false],
  ];
  test.each(cases)('%s → %s', (text, expected) => {
    expect(matches(parseFilter(text, GROUP_TYPE), group, GROUP_TYPE)).toBe(expected);
  });

  test('a group without members listed does not match members filters', () => {
    expect(matches(parseFilter('members pr', GROUP_TYPE), { displayName: 'x' }, GROUP_TYPE)).toBe(false);
  });
});

describe('parse trees', () => {
  test('canonical names in the tree', () => {
    expect(parseFilter('USERNAME Eq "A"', USER_TYPE)).toEqual({ kind: 'compare', path: { attribute: 'userName' }, op: 'eq', value: 'A' });
    expect(parseFilter('urn:ietf:params:scim:schemas:extension:enterprise:2.0:user:Manager.VALUE pr', USER_TYPE)).toEqual({
      kind: 'present',
      path: { extension: ENTERPRISE_USER_SCHEMA, attribute: 'manager', sub: 'value' },
    });
  });

  test('and binds tighter than or', () => {
    const f = parseFilter('title pr or userType pr and nickName pr', USER_TYPE);
    expect(f.kind).toBe('or');
    expect((f as Extract<Filter, { kind: 'and' | 'or' }>).right.kind).toBe('and');
  });

  test("Entra's dialect is normalised to a standard value path", () => {
    expect(parseFilter('emails[type eq "work"].value eq "x@y"', USER_TYPE)).toEqual(
      parseFilter('emails[type eq "work" and value eq "x@y"]', USER_TYPE),
    );
  });

  test('JSON values', () => {
    const value = (t: string) => (parseFilter(`title eq ${t}`, USER_TYPE) as { value: unknown }).value;
    expect(value('"a\\nb\\t\\"\\\\\\/"')).toBe('a\nb\t"\\/');
    expect(value('"\\u00e9"')).toBe('é');
    expect(value('12')).toBe(12);
    expect(value('-1.5e2')).toBe(-150);
    expect(value('true')).toBe(true);
    expect(value('FALSE')).toBe(false);
    expect(value('null')).toBe(null);
    expect(value('""')).toBe('');
  });
});

describe('malformed, unknown and hostile filters are 400 invalidFilter', () => {
  const bad: Array<[string, string]> = [
    ['', 'empty'],
    ['   ', 'empty'],
    ['userName', 'operator'],
    ['userName eq', 'value'],
    ['userName eq "x', 'never closed'],
    ['userName eq "x\\q"', 'escape'],
    ['userName eq "x\\u12"', 'escape'],
    ["userName eq 'x'", 'double quotes'],
    ['userName eq x', 'expected a value'],
    ['userName like "x"', 'unknown operator "like"'],
    ['userName == "x"', 'operator'],
    ['userName eq "x" junk', 'unexpected text'],
    ['userName eq "x" and', 'ends where an expression'],
    ['userName eq "x" or', 'ends where an expression'],
    ['and userName eq "x"', 'unknown attribute "and"'],
    ['(userName eq "x"', 'never closed'],
    ['userName eq "x")', 'unexpected text'],
    ['()', 'expected an attribute'],
    ['not userName eq "x"', 'parentheses'],
    ['emails[type eq "work"', 'never closed'],
    ['emails[]', 'empty'],
    ['emails[type eq "work"]]', 'unexpected text'],
    ['emails[type eq "work"].nope eq "x"', 'unknown sub-attribute "nope"'],
    ['emails[foo eq "x"]', 'unknown sub-attribute "foo"'],
    ['emails[value eq "a"] eq "b"', 'unexpected text'],
    ['emails[type eq "work" and emails[type eq "home"]]', 'unknown sub-attribute "emails"'],
    ['name.givenName[value eq "x"]', 'sub-attribute'],
    ['userName[value eq "x"]', 'no sub-attributes'],
    ['foo eq "x"', 'unknown attribute "foo"'],
    ['name.nope eq "x"', 'unknown attribute "name.nope"'],
    ['name.givenName.x eq "y"', 'unknown attribute'],
    ['urn:ietf:params:scim:schemas:extension:other:2.0:User:x eq "y"', 'unknown attribute'],
    ['urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:nope eq "y"', 'unknown attribute'],
    ['displayName eq "x"', ''], // fine for a user: a placeholder that is removed below
    ['userName eq "x" or 1 eq 1', 'found the value 1'],
    ['true', 'found the value true'],
    ['userName eq "x"; DROP TABLE users', 'unexpected text'],
    ['userName eq "a" or PartitionKey ne \'x\'', 'unknown attribute "PartitionKey"'],
    ['userName eq "a" -- comment', 'unexpected text'],
    ['active gt true', 'cannot be used on the boolean'],
    ['active co "t"', 'cannot be used on the boolean'],
    ['emails.primary lt false', 'cannot be used on the boolean'],
    ['name gt "a"', 'complex'],
    ['name eq "a"', 'complex'],
    ['addresses eq "a"', 'complex'],
    ['userName co 1', 'needs a string'],
    ['userName gt null', 'needs a string'],
    ['userName gt true', 'needs a string'],
    ['meta.created gt "yesterday"', 'date and time'],
    ['meta.created eq "2024-13-45"', 'date and time'],
    ['userName eq "x" and (title pr or (nickName pr)', 'never closed'],
  ];

  test.each(bad.filter(([t]) => t !== 'displayName eq "x"'))('%s', (text, detail) => {
    const err = scimError(() => parseFilter(text, USER_TYPE));
    expect(err.status).toBe(400);
    expect(err.scimType).toBe('invalidFilter');
    expect(err.message).toContain(detail);
  });

  test('a group has no userName', () => {
    expect(scimError(() => parseFilter('userName eq "x"', GROUP_TYPE)).message).toContain('unknown attribute "userName" for a Group');
  });

  test('the detail quotes at most ~50 characters of the filter, printable', () => {
    const text = 'userName eq "' + 'a'.repeat(500) + '\u0000\n" nonsense ' + 'b'.repeat(500);
    const err = scimError(() => parseFilter(text, USER_TYPE));
    expect(err.scimType).toBe('invalidFilter');
    const quoted = /"(…?[^"]*…?)"\.$/.exec(err.message)?.[1] ?? '';
    expect(quoted.replace(/…/g, '').length).toBeLessThanOrEqual(50);
    expect(err.message).not.toMatch(/[\u0000-\u001f]/);
  });

  test('10,000 nested parentheses: rejected by length before any recursion', () => {
    const text = '('.repeat(10_000) + 'title pr' + ')'.repeat(10_000);
    const err = scimError(() => parseFilter(text, USER_TYPE));
    expect(err.scimType).toBe('invalidFilter');
    expect(err.message).toContain(`at most ${FILTER_LIMITS.maxLength}`);
  });

  test('nesting within the length limit is bounded by depth', () => {
    const ok = '('.repeat(FILTER_LIMITS.maxDepth) + 'title pr' + ')'.repeat(FILTER_LIMITS.maxDepth);
    expect(matches(parseFilter(ok, USER_TYPE), user, USER_TYPE)).toBe(true);
    for (const text of [
      '('.repeat(2000) + 'title pr' + ')'.repeat(2000),
      'not ('.repeat(500) + 'title pr' + ')'.repeat(500),
      '('.repeat(FILTER_LIMITS.maxDepth + 1) + 'title pr' + ')'.repeat(FILTER_LIMITS.maxDepth + 1),
      '('.repeat(2000), // unbalanced too
    ]) {
      const err = scimError(() => parseFilter(text, USER_TYPE));
      expect(err.scimType).toBe('invalidFilter');
      expect(err.message).toContain('nested more than');
    }
  });

  test('a 100 KB filter is rejected', () => {
    const text = 'userName eq "' + 'x'.repeat(100 * 1024) + '"';
    expect(scimError(() => parseFilter(text, USER_TYPE)).scimType).toBe('invalidFilter');
  });

  test('the node count is bounded', () => {
    const ok = Array.from({ length: 50 }, (_, i) => `userName eq "u${i}"`).join(' or ');
    expect(() => parseFilter(ok, USER_TYPE)).not.toThrow();
    const tooMany = Array.from({ length: 60 }, (_, i) => `userName eq "u${i}"`).join(' or ');
    expect(tooMany.length).toBeLessThan(FILTER_LIMITS.maxLength);
    const err = scimError(() => parseFilter(tooMany, USER_TYPE));
    expect(err.message).toContain(`more than ${FILTER_LIMITS.maxNodes} expressions`);
  });

  test('a long chain of and/or does not overflow the stack', () => {
    const text = Array.from({ length: 400 }, () => 'title pr').join(' and ');
    expect(scimError(() => parseFilter(text, USER_TYPE)).scimType).toBe('invalidFilter');
  });

  test('a non-string filter', () => {
    expect(scimError(() => parseFilter(42 as unknown as string, USER_TYPE)).scimType).toBe('invalidFilter');
  });

  test('random garbage never throws anything but invalidFilter', () => {
    const alphabet = [
      '(',
      ')',
      '[',
      ']',
      '"',
      '\\',
      ' ',
      'and',
      'or',
      'not',
      'eq',
      'pr',
      'emails',
      'userName',
      '.',
      'value',
      '1',
      'true',
      'urn:',
      ':',
    ];
    let seed = 42;
    const rand = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    for (let i = 0; i < 2000; i++) {
      const text = Array.from({ length: 1 + Math.floor(rand() * 12) }, () => alphabet[Math.floor(rand() * alphabet.length)]).join(
        rand() < 0.5 ? ' ' : '',
      );
      try {
        const f = parseFilter(text, USER_TYPE);
        matches(f, user, USER_TYPE);
      } catch (e) {
        expect(isScimError(e) && e.scimType === 'invalidFilter').toBe(true);
      }
    }
  });
});

describe('equalityLookup', () => {
  const cases: Array<[string, typeof USER_TYPE, { attribute: string; value: string } | undefined]> = [
    ['userName eq "Bjensen@example.com"', USER_TYPE, { attribute: 'userName', value: 'Bjensen@example.com' }],
    ['USERNAME eq "a"', USER_TYPE, { attribute: 'userName', value: 'a' }],
    ['urn:ietf:params:scim:schemas:core:2.0:User:userName eq "a"', USER_TYPE, { attribute: 'userName', value: 'a' }],
    ['externalId eq "E1"', USER_TYPE, { attribute: 'externalId', value: 'E1' }],
    ['id eq "i"', USER_TYPE, { attribute: 'id', value: 'i' }],
    ['displayName eq "Scan Operators"', GROUP_TYPE, { attribute: 'displayName', value: 'Scan Operators' }],
    ['externalId eq "x"', GROUP_TYPE, { attribute: 'externalId', value: 'x' }],
    ['displayName eq "Babs"', USER_TYPE, undefined],
    ['userName ne "a"', USER_TYPE, undefined],
    ['userName sw "a"', USER_TYPE, undefined],
    ['userName eq null', USER_TYPE, undefined],
    ['userName eq "a" and active eq true', USER_TYPE, undefined],
    ['userName eq "a" or userName eq "b"', USER_TYPE, undefined],
    ['not (userName eq "a")', USER_TYPE, undefined],
    ['emails[type eq "work"].value eq "a"', USER_TYPE, undefined],
  ];
  test.each(cases)('%s', (text, type, expected) => {
    expect(equalityLookup(parseFilter(text, type), type)).toEqual(expected);
  });
});

describe('parsePatchPath', () => {
  test.each([
    ['active', { attribute: 'active' }],
    ['NAME.GIVENNAME', { attribute: 'name', sub: 'givenName' }],
    [
      'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department',
      { extension: ENTERPRISE_USER_SCHEMA, attribute: 'department' },
    ],
    [
      'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value',
      { extension: ENTERPRISE_USER_SCHEMA, attribute: 'manager', sub: 'value' },
    ],
    [
      'emails[type eq "work"].value',
      {
        attribute: 'emails',
        sub: 'value',
        filter: parseFilter('emails[type eq "work"]', USER_TYPE) && {
          kind: 'compare',
          path: { attribute: 'type' },
          op: 'eq',
          value: 'work',
        },
      },
    ],
    ['emails[type eq "work"]', { attribute: 'emails', filter: { kind: 'compare', path: { attribute: 'type' }, op: 'eq', value: 'work' } }],
  ])('%s', (text, expected) => {
    expect(parsePatchPath(text, USER_TYPE)).toEqual(expected);
  });

  test('members[value eq "id"] on a group', () => {
    expect(parsePatchPath('members[value eq "2819c223"]', GROUP_TYPE)).toEqual({
      attribute: 'members',
      filter: { kind: 'compare', path: { attribute: 'value' }, op: 'eq', value: '2819c223' },
    });
  });

  test.each([
    '',
    'nope',
    'name.nope',
    'emails[type eq "work"',
    'emails[type eq "work"].nope',
    'emails[type eq]',
    'active extra',
    '__proto__',
    'constructor.prototype',
    'name.givenName[type eq "x"]',
  ])('%s → invalidPath', (text) => {
    const err = scimError(() => parsePatchPath(text, USER_TYPE));
    expect(err.status).toBe(400);
    expect(err.scimType).toBe('invalidPath');
  });
});
