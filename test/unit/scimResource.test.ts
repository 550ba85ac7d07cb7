import { scimError } from '../helpers/scimError';
import {
  normaliseValue,
  parseAttributeList,
  project,
  RESOURCE_LIMITS,
  validateMembers,
  validateResource,
} from '../../shared/scim/resource';
import { ENTERPRISE_USER_SCHEMA, GROUP_SCHEMA, GROUP_TYPE, SCANRELAY_USER_SCHEMA, USER_SCHEMA, USER_TYPE } from '../../shared/scim/schema';

/** What Entra's provisioning service POSTs to /Users (Microsoft Learn, "Develop and plan provisioning for a SCIM endpoint"). */
const entraUser = {
  schemas: [USER_SCHEMA, ENTERPRISE_USER_SCHEMA],
  externalId: '0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef',
  userName: 'Test_User_ab6490ee-1e48-479e-a20b-2d77186b5dd1',
  active: true,
  emails: [{ primary: true, type: 'work', value: 'Test_User_fd0ea19b-0777-472c-9f96-4f70d2226f2e@testuser.com' }],
  meta: { resourceType: 'User' },
  name: { formatted: 'givenName familyName', familyName: 'familyName', givenName: 'givenName' },
  roles: [],
};

describe('validateResource: users', () => {
  test("Entra's POST body is stored with canonical names, without meta, schemas or empty values", () => {
    const { resource, members } = validateResource(entraUser, USER_TYPE, 'create');
    expect(members).toBeUndefined();
    expect(resource).toEqual({
      externalId: entraUser.externalId,
      userName: entraUser.userName,
      active: true,
      emails: entraUser.emails,
      name: entraUser.name,
    });
  });

  test('names are case-insensitive and canonicalised, including sub-attributes and extension URNs', () => {
    const { resource } = validateResource(
      {
        SCHEMAS: [USER_SCHEMA.toUpperCase()],
        USERNAME: 'A@B',
        Name: { GIVENNAME: 'A' },
        EMAILS: [{ VALUE: 'a@b', Type: 'work', PRIMARY: 'True' }],
        'URN:IETF:PARAMS:SCIM:SCHEMAS:EXTENSION:ENTERPRISE:2.0:USER': { DEPARTMENT: 'Ops', Manager: { VALUE: 'm1' } },
        'urn:ietf:params:scim:schemas:extension:scanrelay:2.0:user': { homedirectory: 'Users\\A' },
      },
      USER_TYPE,
      'create',
    );
    expect(resource).toEqual({
      userName: 'A@B',
      name: { givenName: 'A' },
      emails: [{ value: 'a@b', type: 'work', primary: true }],
      [ENTERPRISE_USER_SCHEMA]: { department: 'Ops', manager: { value: 'm1' } },
      [SCANRELAY_USER_SCHEMA]: { homeDirectory: 'Users\\A' },
    });
  });

  test('a fully qualified attribute name at the top level goes into its extension', () => {
    const { resource } = validateResource(
      { userName: 'a', [`${ENTERPRISE_USER_SCHEMA}:department`]: 'X', [`${USER_SCHEMA}:title`]: 'T' },
      USER_TYPE,
      'create',
    );
    expect(resource).toEqual({ userName: 'a', title: 'T', [ENTERPRISE_USER_SCHEMA]: { department: 'X' } });
  });

  test.each([
    ['True', true],
    ['false', false],
    ['FALSE', false],
    [true, true],
    [false, false],
  ])('active %p → %p', (sent, stored) => {
    expect(validateResource({ userName: 'a', active: sent }, USER_TYPE, 'create').resource.active).toBe(stored);
  });

  test.each([
    [{ value: 'm1' }, { value: 'm1' }],
    [[{ value: 'm1' }], { value: 'm1' }],
    ['m1', { value: 'm1' }],
    [
      { value: 'm1', $ref: '../Users/m1', displayName: 'Ignored (readOnly)' },
      { value: 'm1', $ref: '../Users/m1' },
    ],
    ['', undefined],
    [[], undefined],
    [null, undefined],
    [{ value: '' }, undefined],
  ])('manager %p → %p', (sent, stored) => {
    const { resource } = validateResource({ userName: 'a', [ENTERPRISE_USER_SCHEMA]: { manager: sent } }, USER_TYPE, 'create');
    expect((resource[ENTERPRISE_USER_SCHEMA] as Record<string, unknown> | undefined)?.manager).toEqual(stored);
  });

  test('readOnly attributes and sub-attributes are ignored; password is never kept', () => {
    const { resource } = validateResource(
      {
        userName: 'a',
        id: 'client-chosen',
        meta: { created: '2020-01-01T00:00:00Z' },
        groups: [{ value: 'g1' }],
        password: 'hunter2',
        [ENTERPRISE_USER_SCHEMA]: { manager: { value: 'm', displayName: 'M' } },
      },
      USER_TYPE,
      'replace',
    );
    expect(resource).toEqual({ userName: 'a', [ENTERPRISE_USER_SCHEMA]: { manager: { value: 'm' } } });
  });

  test('missing schemas is accepted; values are stored as sent', () => {
    const { resource } = validateResource({ userName: '  Mixed Case@X ', displayName: '' }, USER_TYPE, 'create');
    expect(resource).toEqual({ userName: '  Mixed Case@X ', displayName: '' });
  });

  test('binary values are strings', () => {
    expect(() => validateResource({ userName: 'a', x509Certificates: [{ value: 'TUlJ' }] }, USER_TYPE, 'create')).not.toThrow();
  });

  const invalid: Array<[string, unknown, string, string]> = [
    ['not an object', 'x', 'invalidSyntax', 'must be a JSON object'],
    ['an array', [{ userName: 'a' }], 'invalidSyntax', 'must be a JSON object'],
    ['null', null, 'invalidSyntax', 'must be a JSON object'],
    ['unknown attribute', { userName: 'a', foo: 1 }, 'invalidSyntax', 'Unknown attribute "foo"'],
    ['unknown sub-attribute', { userName: 'a', name: { nickname: 'x' } }, 'invalidSyntax', 'Unknown attribute "name.nickname"'],
    [
      'unknown extension',
      { userName: 'a', 'urn:ietf:params:scim:schemas:extension:custom:2.0:User': { x: 1 } },
      'invalidSyntax',
      'Unknown schema or attribute',
    ],
    [
      'unknown extension attribute',
      { userName: 'a', [ENTERPRISE_USER_SCHEMA]: { favouriteColour: 'red' } },
      'invalidSyntax',
      'Unknown attribute "favouriteColour"',
    ],
    ['unknown schema listed', { schemas: [USER_SCHEMA, 'urn:x'], userName: 'a' }, 'invalidSyntax', 'Unknown schema "urn:x"'],
    ['group schema on a user', { schemas: [GROUP_SCHEMA], userName: 'a' }, 'invalidSyntax', 'Unknown schema'],
    ['schemas without the core schema', { schemas: [ENTERPRISE_USER_SCHEMA], userName: 'a' }, 'invalidSyntax', 'must include'],
    ['schemas not an array', { schemas: USER_SCHEMA, userName: 'a' }, 'invalidSyntax', 'array of schema URNs'],
    ['duplicate names in different case', { userName: 'a', USERNAME: 'b' }, 'invalidSyntax', 'given twice'],
    ['duplicate sub-attributes', { userName: 'a', name: { givenName: 'a', GivenName: 'b' } }, 'invalidSyntax', 'given twice'],
    [
      'duplicate via URN',
      { userName: 'a', [ENTERPRISE_USER_SCHEMA]: { department: 'a' }, [`${ENTERPRISE_USER_SCHEMA}:department`]: 'b' },
      'invalidSyntax',
      'given twice',
    ],
    ['missing userName', { active: true }, 'invalidValue', '"userName" is required'],
    ['empty userName', { userName: '' }, 'invalidValue', '"userName" is required'],
    ['blank userName', { userName: '   ' }, 'invalidValue', '"userName" is required'],
    ['null userName', { userName: null }, 'invalidValue', '"userName" is required'],
    ['userName a number', { userName: 42 }, 'invalidValue', 'Attribute "userName" must be a string.'],
    [
      'givenName an object',
      { userName: 'a', name: { givenName: { x: 1 } } },
      'invalidValue',
      'Attribute "name.givenName" must be a string.',
    ],
    ['name a string', { userName: 'a', name: 'A B' }, 'invalidValue', 'Attribute "name" must be an object'],
    ['active "yes"', { userName: 'a', active: 'yes' }, 'invalidValue', 'must be true or false'],
    ['active 1', { userName: 'a', active: 1 }, 'invalidValue', 'must be true or false'],
    ['emails an object', { userName: 'a', emails: { value: 'a@b' } }, 'invalidValue', 'must be an array'],
    ['emails of strings', { userName: 'a', emails: ['a@b'] }, 'invalidValue', 'must be an object'],
    ['emails with null', { userName: 'a', emails: [null] }, 'invalidValue', 'must be an array of objects'],
    ['emails nested arrays', { userName: 'a', emails: [[{ value: 'a' }]] }, 'invalidValue', 'must be an array of objects'],
    [
      'two primaries',
      {
        userName: 'a',
        emails: [
          { value: 'a', primary: true },
          { value: 'b', primary: 'True' },
        ],
      },
      'invalidValue',
      'primary',
    ],
    [
      'too many values',
      { userName: 'a', emails: Array.from({ length: 101 }, (_, i) => ({ value: `${i}@x` })) },
      'invalidValue',
      'at most 100',
    ],
    ['a long string', { userName: 'a'.repeat(RESOURCE_LIMITS.maxString + 1) }, 'invalidValue', 'at most 4096'],
    ['an extension not an object', { userName: 'a', [ENTERPRISE_USER_SCHEMA]: 'x' }, 'invalidValue', 'must be an object'],
    [
      'two managers',
      { userName: 'a', [ENTERPRISE_USER_SCHEMA]: { manager: [{ value: 'a' }, { value: 'b' }] } },
      'invalidValue',
      'one manager',
    ],
    ['manager a number', { userName: 'a', [ENTERPRISE_USER_SCHEMA]: { manager: 5 } }, 'invalidValue', 'must be an object'],
    ['deep nesting', { userName: 'a', name: { givenName: nest(5000) } }, 'invalidValue', 'must be a string'],
    ['__proto__ key', JSON.parse('{"userName":"a","__proto__":{"polluted":true}}'), 'invalidSyntax', 'Unknown attribute "__proto__"'],
    [
      'constructor key',
      { userName: 'a', constructor: { prototype: { polluted: true } } },
      'invalidSyntax',
      'Unknown attribute "constructor"',
    ],
    [
      '__proto__ sub-attribute',
      JSON.parse('{"userName":"a","name":{"__proto__":{"polluted":true}}}'),
      'invalidSyntax',
      'Unknown attribute "name.__proto__"',
    ],
    [
      'prototype in an extension',
      JSON.parse(`{"userName":"a","${ENTERPRISE_USER_SCHEMA}":{"prototype":{"x":1}}}`),
      'invalidSyntax',
      'Unknown attribute "prototype"',
    ],
  ];

  test.each(invalid)('%s → 400', (_, body, scimType, detail) => {
    const err = scimError(() => validateResource(body, USER_TYPE, 'create'));
    expect(err.status).toBe(400);
    expect(err.scimType).toBe(scimType);
    expect(err.message).toContain(detail);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  test('a dateTime must be ISO 8601', () => {
    // No writable dateTime attribute exists in the schemas (meta is readOnly): check the generic validator.
    const attr = { name: 'when', type: 'dateTime' as const };
    expect(normaliseValue(attr, '2024-01-31T12:00:00Z')).toBe('2024-01-31T12:00:00Z');
    expect(normaliseValue(attr, '2024-01-31T12:00:00.123+01:00')).toBe('2024-01-31T12:00:00.123+01:00');
    for (const bad of ['2024-01-31', 'yesterday', '2024-13-31T12:00:00Z', 1700000000]) {
      expect(scimError(() => normaliseValue(attr, bad)).scimType).toBe('invalidValue');
    }
  });
});

function nest(depth: number): unknown {
  let v: unknown = 'x';
  for (let i = 0; i < depth; i++) v = { a: v };
  return v;
}

describe('validateResource: groups', () => {
  test("Entra's POST /Groups body: members returned separately", () => {
    const { resource, members } = validateResource(
      {
        schemas: [GROUP_SCHEMA],
        externalId: '8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159',
        displayName: 'displayName',
        meta: { resourceType: 'Group' },
        members: [
          { value: 'u1', $ref: null, display: 'ignored' },
          { value: 'g2', type: 'group', $ref: 'https://x/Groups/g2' },
          { value: 'u1' },
        ],
      },
      GROUP_TYPE,
      'create',
    );
    expect(resource).toEqual({ externalId: '8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159', displayName: 'displayName' });
    expect(members).toEqual([{ value: 'u1' }, { value: 'g2', type: 'Group' }]);
  });

  test('no members attribute → members undefined; empty → []', () => {
    expect(validateResource({ displayName: 'x' }, GROUP_TYPE, 'create').members).toBeUndefined();
    expect(validateResource({ displayName: 'x', members: [] }, GROUP_TYPE, 'replace').members).toEqual([]);
    expect(validateResource({ displayName: 'x', Members: null }, GROUP_TYPE, 'replace').members).toEqual([]);
  });

  test.each<[string, unknown, string, string]>([
    ['no displayName', { members: [] }, 'invalidValue', '"displayName" is required'],
    ['userName on a group', { displayName: 'x', userName: 'a' }, 'invalidSyntax', 'Unknown attribute "userName" for a Group'],
    [
      'enterprise extension on a group',
      { displayName: 'x', [ENTERPRISE_USER_SCHEMA]: { department: 'a' } },
      'invalidSyntax',
      'Unknown schema or attribute',
    ],
    ['member without value', { displayName: 'x', members: [{ display: 'a' }] }, 'invalidValue', 'needs a "value"'],
    ['member value a number', { displayName: 'x', members: [{ value: 5 }] }, 'invalidValue', 'needs a "value"'],
    ['member a string', { displayName: 'x', members: ['u1'] }, 'invalidValue', 'must be an object'],
    [
      'member unknown key',
      { displayName: 'x', members: [{ value: 'u1', role: 'owner' }] },
      'invalidSyntax',
      'Unknown attribute "members.role"',
    ],
    ['member bad type', { displayName: 'x', members: [{ value: 'u1', type: 'Device' }] }, 'invalidValue', '"User" or "Group"'],
    ['member $ref a number', { displayName: 'x', members: [{ value: 'u1', $ref: 1 }] }, 'invalidValue', 'must be a string'],
    ['members twice', { displayName: 'x', members: [], MEMBERS: [] }, 'invalidSyntax', 'given twice'],
  ])('%s → 400', (_, body, scimType, detail) => {
    const err = scimError(() => validateResource(body, GROUP_TYPE, 'create'));
    expect(err.scimType).toBe(scimType);
    expect(err.message).toContain(detail);
  });

  test('validateMembers limits and shapes', () => {
    expect(validateMembers({ value: 'u1', type: 'USER' })).toEqual([{ value: 'u1', type: 'User' }]);
    const many = Array.from({ length: RESOURCE_LIMITS.maxMembers + 1 }, (_, i) => ({ value: `u${i}` }));
    expect(scimError(() => validateMembers(many)).scimType).toBe('invalidValue');
  });
});

describe('project', () => {
  const full: Record<string, unknown> = {
    schemas: [USER_SCHEMA, ENTERPRISE_USER_SCHEMA],
    id: 'u1',
    externalId: 'e1',
    userName: 'bjensen',
    password: 'never-returned',
    name: { givenName: 'Barbara', familyName: 'Jensen' },
    emails: [
      { value: 'b@x', type: 'work', primary: true },
      { value: 'c@y', type: 'home' },
    ],
    active: true,
    [ENTERPRISE_USER_SCHEMA]: { department: 'Ops', employeeNumber: '7', manager: { value: 'm1' } },
    groups: [{ value: 'g1', type: 'direct' }],
    meta: { resourceType: 'User', created: '2024-01-01T00:00:00Z', lastModified: '2024-01-01T00:00:00Z' },
  };

  test('no options: everything but returned: never', () => {
    const { password: _password, ...rest } = full;
    expect(project(full, USER_TYPE, {})).toEqual(rest);
    expect(project(full, USER_TYPE)).not.toHaveProperty('password');
  });

  test.each<[string, Record<string, unknown>]>([
    ['userName', { schemas: full.schemas, id: 'u1', userName: 'bjensen' }],
    ['USERNAME,Active', { schemas: full.schemas, id: 'u1', userName: 'bjensen', active: true }],
    ['name.givenName', { schemas: full.schemas, id: 'u1', name: { givenName: 'Barbara' } }],
    ['emails.value', { schemas: full.schemas, id: 'u1', emails: [{ value: 'b@x' }, { value: 'c@y' }] }],
    [
      'emails.value,emails.type',
      {
        schemas: full.schemas,
        id: 'u1',
        emails: [
          { value: 'b@x', type: 'work' },
          { value: 'c@y', type: 'home' },
        ],
      },
    ],
    ['emails,emails.value', { schemas: full.schemas, id: 'u1', emails: full.emails }],
    [`${ENTERPRISE_USER_SCHEMA}:department`, { schemas: full.schemas, id: 'u1', [ENTERPRISE_USER_SCHEMA]: { department: 'Ops' } }],
    [ENTERPRISE_USER_SCHEMA, { schemas: full.schemas, id: 'u1', [ENTERPRISE_USER_SCHEMA]: full[ENTERPRISE_USER_SCHEMA] }],
    [
      `${ENTERPRISE_USER_SCHEMA}:manager.value`,
      { schemas: full.schemas, id: 'u1', [ENTERPRISE_USER_SCHEMA]: { manager: { value: 'm1' } } },
    ],
    ['meta.created', { schemas: full.schemas, id: 'u1', meta: { created: '2024-01-01T00:00:00Z' } }],
    ['password', { schemas: full.schemas, id: 'u1' }],
    ['nope,foo.bar', { schemas: full.schemas, id: 'u1' }],
    ['id', { schemas: full.schemas, id: 'u1' }],
  ])('attributes=%s', (list, expected) => {
    expect(project(full, USER_TYPE, { attributes: parseAttributeList(list) })).toEqual(expected);
  });

  test.each<[string, string[], string[]]>([
    ['emails', ['emails'], []],
    ['EMAILS,name', ['emails', 'name'], []],
    ['id,schemas', [], ['id', 'schemas']], // never removed
    ['meta', ['meta'], []],
    ['groups', ['groups'], []],
    [ENTERPRISE_USER_SCHEMA, [ENTERPRISE_USER_SCHEMA], []],
    ['unknown', [], []],
  ])('excludedAttributes=%s', (list, gone, kept) => {
    const out = project(full, USER_TYPE, { excludedAttributes: parseAttributeList(list) });
    for (const k of gone) expect(out).not.toHaveProperty([k]);
    for (const k of kept) expect(out).toHaveProperty([k]);
    expect(out).not.toHaveProperty('password');
    expect(out.userName).toBe('bjensen');
  });

  test('excluding sub-attributes', () => {
    const out = project(full, USER_TYPE, {
      excludedAttributes: ['name.familyName', 'emails.primary', `${ENTERPRISE_USER_SCHEMA}:manager`],
    });
    expect(out.name).toEqual({ givenName: 'Barbara' });
    expect(out.emails).toEqual([
      { value: 'b@x', type: 'work' },
      { value: 'c@y', type: 'home' },
    ]);
    expect(out[ENTERPRISE_USER_SCHEMA]).toEqual({ department: 'Ops', employeeNumber: '7' });
  });

  test('groups: excludedAttributes=members (Entra) and attributes=displayName', () => {
    const g = {
      schemas: [GROUP_SCHEMA],
      id: 'g1',
      displayName: 'Ops',
      members: [{ value: 'u1', type: 'User', $ref: 'x' }],
      meta: { resourceType: 'Group' },
    };
    expect(project(g, GROUP_TYPE, { excludedAttributes: ['members'] })).toEqual({
      schemas: [GROUP_SCHEMA],
      id: 'g1',
      displayName: 'Ops',
      meta: { resourceType: 'Group' },
    });
    expect(project(g, GROUP_TYPE, { attributes: ['displayName'] })).toEqual({ schemas: [GROUP_SCHEMA], id: 'g1', displayName: 'Ops' });
    expect(project(g, GROUP_TYPE, { attributes: ['members.value'] })).toEqual({
      schemas: [GROUP_SCHEMA],
      id: 'g1',
      members: [{ value: 'u1' }],
    });
  });

  test('the input is not modified', () => {
    const copy = structuredClone(full);
    project(full, USER_TYPE, { attributes: ['name.givenName'], excludedAttributes: ['emails'] });
    expect(full).toEqual(copy);
  });
});

describe('parseAttributeList', () => {
  test.each<[string | null, string[] | undefined]>([
    [null, undefined],
    ['', undefined],
    [' , ,', undefined],
    ['userName', ['userName']],
    ['userName, name.givenName ,emails', ['userName', 'name.givenName', 'emails']],
    [`${ENTERPRISE_USER_SCHEMA}:department`, [`${ENTERPRISE_USER_SCHEMA}:department`]],
  ])('%p', (param, expected) => {
    expect(parseAttributeList(param)).toEqual(expected);
  });

  test.each(['emails[type eq "work"]', 'emails[type eq "work"].value', 'name givenName', 'userName,"x"'])(
    'refuses %p with invalidValue naming it',
    (param) => {
      const e = scimError(() => parseAttributeList(param, 'excludedAttributes'));
      expect(e).toMatchObject({ status: 400, scimType: 'invalidValue' });
      expect(e.message).toMatch(/^excludedAttributes: ".+" is not an attribute name/);
    },
  );
});
