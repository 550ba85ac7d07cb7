import { scimError } from '../helpers/scimError';
import { applyPatch, PATCH_LIMITS } from '../../shared/scim/patch';
import { ENTERPRISE_USER_SCHEMA, GROUP_TYPE, PATCH_OP, USER_TYPE } from '../../shared/scim/schema';

const patch = (...Operations: unknown[]) => ({ schemas: [PATCH_OP], Operations });

/** A user as the service stores it (canonical names, no id/meta). */
const stored = (): Record<string, unknown> => ({
  userName: 'bjensen@example.com',
  externalId: 'e1',
  displayName: 'Babs Jensen',
  active: true,
  title: 'Tour Guide',
  name: { givenName: 'Barbara', familyName: 'Jensen' },
  emails: [
    { value: 'bjensen@example.com', type: 'work', primary: true },
    { value: 'babs@jensen.org', type: 'home' },
  ],
  [ENTERPRISE_USER_SCHEMA]: { department: 'Tour Operations', manager: { value: 'm1' } },
});

const userPatch = (...ops: unknown[]) => applyPatch(stored(), patch(...ops), USER_TYPE);
const ent = (r: Record<string, unknown>) => r[ENTERPRISE_USER_SCHEMA] as Record<string, unknown> | undefined;

describe("Entra's default dialect (users)", () => {
  test('Replace active "False" / "True"', () => {
    expect(userPatch({ op: 'Replace', path: 'active', value: 'False' }).resource.active).toBe(false);
    expect(userPatch({ op: 'Replace', path: 'active', value: 'True' }).resource.active).toBe(true);
  });

  test('Replace emails[type eq "work"].value and name.familyName (Microsoft Learn tutorial body)', () => {
    const { resource, members } = applyPatch(
      stored(),
      JSON.parse(
        '{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"Replace","path":"emails[type eq \\"work\\"].value","value":"updatedEmail@microsoft.com"},{"op":"Replace","path":"name.familyName","value":"updatedFamilyName"}]}',
      ),
      USER_TYPE,
    );
    expect(members).toBeUndefined();
    expect(resource.emails).toEqual([
      { value: 'updatedEmail@microsoft.com', type: 'work', primary: true },
      { value: 'babs@jensen.org', type: 'home' },
    ]);
    expect(resource.name).toEqual({ givenName: 'Barbara', familyName: 'updatedFamilyName' });
  });

  test('Add a work e-mail the user does not have creates the element', () => {
    const { resource } = applyPatch({ userName: 'a' }, patch({ op: 'Add', path: 'emails[type eq "work"].value', value: 'a@b' }), USER_TYPE);
    expect(resource.emails).toEqual([{ type: 'work', value: 'a@b' }]);
  });

  test('Add/Replace of simple and extension attributes', () => {
    const { resource } = userPatch(
      { op: 'Add', path: 'nickName', value: 'Babs' },
      { op: 'Replace', path: 'title', value: 'Guide' },
      { op: 'Replace', path: 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department', value: 'Sales' },
      { op: 'Add', path: 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber', value: '42' },
      { op: 'Replace', path: 'externalId', value: 'e2' },
    );
    expect(resource).toMatchObject({ nickName: 'Babs', title: 'Guide', externalId: 'e2' });
    expect(ent(resource)).toEqual({ department: 'Sales', employeeNumber: '42', manager: { value: 'm1' } });
  });

  test('Remove an attribute', () => {
    const { resource } = userPatch({ op: 'Remove', path: 'title' }, { op: 'Remove', path: 'name.givenName' });
    expect(resource).not.toHaveProperty('title');
    expect(resource.name).toEqual({ familyName: 'Jensen' });
  });
});

describe("Entra's compliant dialect (aadOptscim062020)", () => {
  test('replace active false', () => {
    expect(userPatch({ op: 'replace', path: 'active', value: false }).resource.active).toBe(false);
  });

  test('path-less replace with dotted, value-path and URN keys', () => {
    const { resource } = userPatch({
      op: 'replace',
      value: {
        displayName: 'Barbara J.',
        'name.givenName': 'Barb',
        'name.familyName': 'Jensen-Smith',
        active: false,
        'emails[type eq "work"].value': 'barb@example.com',
        'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department': 'Research',
        'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager': 'm2',
      },
    });
    expect(resource).toMatchObject({ displayName: 'Barbara J.', active: false, name: { givenName: 'Barb', familyName: 'Jensen-Smith' } });
    expect((resource.emails as Array<Record<string, unknown>>)[0]).toEqual({ value: 'barb@example.com', type: 'work', primary: true });
    expect(ent(resource)).toEqual({ department: 'Research', manager: { value: 'm2' } });
  });

  test('path-less add with an extension object and the schemas/id keys some clients echo', () => {
    const { resource } = userPatch({
      op: 'add',
      value: { id: 'ignored', schemas: ['x'], nickName: 'B', [ENTERPRISE_USER_SCHEMA]: { costCenter: 'CC1' } },
    });
    expect(resource.nickName).toBe('B');
    expect(resource).not.toHaveProperty('id');
    expect(ent(resource)).toMatchObject({ costCenter: 'CC1', department: 'Tour Operations' });
  });

  test('add emails[type eq "work"].value when there is no work e-mail', () => {
    const { resource } = userPatch(
      { op: 'remove', path: 'emails[type eq "work"]' },
      { op: 'add', path: 'emails[type eq "work"].value', value: 'new@x' },
    );
    expect(resource.emails).toEqual([
      { value: 'babs@jensen.org', type: 'home' },
      { type: 'work', value: 'new@x' },
    ]);
  });
});

describe('manager in its three shapes', () => {
  const path = 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager';
  test.each([
    ['{value}', { value: 'm9' }],
    ['[{value}]', [{ value: 'm9' }]],
    ['bare id', 'm9'],
  ])('%s', (_, value) => {
    for (const op of ['add', 'Replace']) expect(ent(userPatch({ op, path, value }).resource)?.manager).toEqual({ value: 'm9' });
  });
  test('manager.value', () => {
    expect(ent(userPatch({ op: 'replace', path: `${path}.value`, value: 'm9' }).resource)?.manager).toEqual({ value: 'm9' });
  });
  test('manager in a path-less extension object', () => {
    expect(ent(userPatch({ op: 'replace', value: { [ENTERPRISE_USER_SCHEMA]: { manager: 'm9' } } }).resource)?.manager).toEqual({
      value: 'm9',
    });
  });
  test('remove manager; replace with an empty value clears it', () => {
    expect(ent(userPatch({ op: 'Remove', path }).resource)).toEqual({ department: 'Tour Operations' });
    expect(ent(userPatch({ op: 'remove', path, value: { value: 'm1' } }).resource)).toEqual({ department: 'Tour Operations' });
    expect(ent(userPatch({ op: 'replace', path, value: '' }).resource)).toEqual({ department: 'Tour Operations' });
    const { resource } = userPatch({ op: 'remove', path }, { op: 'remove', path: `${ENTERPRISE_USER_SCHEMA}:department` });
    expect(resource).not.toHaveProperty([ENTERPRISE_USER_SCHEMA]);
  });
});

describe('RFC 7644 §3.5.2 semantics', () => {
  test('ops in any letter case', () => {
    for (const op of ['add', 'ADD', 'Add', 'aDd']) expect(userPatch({ op, path: 'nickName', value: 'x' }).resource.nickName).toBe('x');
    for (const op of ['remove', 'REMOVE', 'Remove']) expect(userPatch({ op, path: 'title' }).resource).not.toHaveProperty('title');
  });

  test('operation keys and paths are case-insensitive', () => {
    const { resource } = applyPatch(
      stored(),
      { SCHEMAS: [PATCH_OP.toUpperCase()], operations: [{ OP: 'replace', PATH: 'NAME.GIVENNAME', VALUE: 'X' }] },
      USER_TYPE,
    );
    expect(resource.name).toEqual({ givenName: 'X', familyName: 'Jensen' });
  });

  test('add to a multi-valued attribute appends, without duplicates; a single object is accepted', () => {
    const { resource } = userPatch(
      {
        op: 'add',
        path: 'emails',
        value: [
          { value: 'babs@jensen.org', type: 'home' },
          { value: 'o@x', type: 'other' },
        ],
      },
      { op: 'add', path: 'phoneNumbers', value: { value: '+1 555', type: 'work' } },
    );
    expect(resource.emails).toHaveLength(3);
    expect(resource.phoneNumbers).toEqual([{ value: '+1 555', type: 'work' }]);
  });

  test('adding a primary value clears the other primary', () => {
    const { resource } = userPatch({ op: 'add', path: 'emails', value: [{ value: 'n@x', type: 'other', primary: true }] });
    expect((resource.emails as Array<Record<string, unknown>>).map((e) => e.primary)).toEqual([false, undefined, true]);
    const r2 = userPatch({ op: 'replace', path: 'emails[type eq "home"].primary', value: 'True' }).resource;
    expect((r2.emails as Array<Record<string, unknown>>).map((e) => e.primary)).toEqual([false, true]);
  });

  test('replace a multi-valued attribute replaces all values', () => {
    expect(userPatch({ op: 'replace', path: 'emails', value: [{ value: 'only@x' }] }).resource.emails).toEqual([{ value: 'only@x' }]);
  });

  test('replace of a complex attribute keeps the sub-attributes not given', () => {
    expect(userPatch({ op: 'replace', path: 'name', value: { givenName: 'B' } }).resource.name).toEqual({
      givenName: 'B',
      familyName: 'Jensen',
    });
  });

  test('add with a value filter merges into the matching value; replace replaces it', () => {
    const added = userPatch({ op: 'add', path: 'emails[type eq "home"]', value: { display: 'Home' } }).resource.emails as unknown[];
    expect(added[1]).toEqual({ value: 'babs@jensen.org', type: 'home', display: 'Home' });
    const replaced = userPatch({ op: 'replace', path: 'emails[type eq "home"]', value: { value: 'h@x', type: 'home' } }).resource
      .emails as unknown[];
    expect(replaced[1]).toEqual({ value: 'h@x', type: 'home' });
  });

  test('remove with a value filter; a sub-attribute of the matching values', () => {
    expect(userPatch({ op: 'remove', path: 'emails[type eq "home"]' }).resource.emails).toEqual([
      { value: 'bjensen@example.com', type: 'work', primary: true },
    ]);
    expect((userPatch({ op: 'remove', path: 'emails[type eq "work"].primary' }).resource.emails as unknown[])[0]).toEqual({
      value: 'bjensen@example.com',
      type: 'work',
    });
    expect(userPatch({ op: 'remove', path: 'emails[value co "@"]' }).resource).not.toHaveProperty('emails');
  });

  test('remove of something missing is a no-op (Entra retries)', () => {
    const before = stored();
    for (const path of [
      'emails[type eq "other"]',
      'emails[type eq "other"].value',
      'nickName',
      'phoneNumbers',
      'name.middleName',
      `${ENTERPRISE_USER_SCHEMA}:costCenter`,
      'urn:ietf:params:scim:schemas:extension:scanrelay:2.0:User:homeDirectory',
    ]) {
      expect(applyPatch(before, patch({ op: 'remove', path }), USER_TYPE).resource).toEqual(before);
    }
  });

  test('remove listed values of a multi-valued attribute', () => {
    expect(userPatch({ op: 'remove', path: 'emails', value: [{ value: 'BABS@jensen.org' }] }).resource.emails).toEqual([
      { value: 'bjensen@example.com', type: 'work', primary: true },
    ]);
  });

  test('replace with a filter that matches nothing: noTarget unless the filter names a new value', () => {
    const err = scimError(() => userPatch({ op: 'replace', path: 'emails[value co "nobody"].type', value: 'work' }));
    expect(err.scimType).toBe('noTarget');
    expect(err.message).toMatch(/^Operation 1 \(replace emails\[value co "nobody"\]\.type\): /);
    expect(scimError(() => userPatch({ op: 'replace', path: 'emails[type eq "x" or type eq "y"].value', value: 'a' })).scimType).toBe(
      'noTarget',
    );
    const { resource } = userPatch({ op: 'replace', path: 'emails[type eq "other" and primary eq false]', value: { value: 'o@x' } });
    expect((resource.emails as unknown[])[2]).toEqual({ type: 'other', primary: false, value: 'o@x' });
  });

  test('replace with null clears; add with null changes nothing', () => {
    expect(userPatch({ op: 'replace', path: 'title', value: null }).resource).not.toHaveProperty('title');
    expect(userPatch({ op: 'add', path: 'title', value: null }).resource.title).toBe('Tour Guide');
  });

  test('a whole extension by its URN', () => {
    expect(userPatch({ op: 'remove', path: ENTERPRISE_USER_SCHEMA }).resource).not.toHaveProperty([ENTERPRISE_USER_SCHEMA]);
    expect(ent(userPatch({ op: 'replace', path: ENTERPRISE_USER_SCHEMA, value: { division: 'D' } }).resource)).toMatchObject({
      division: 'D',
      department: 'Tour Operations',
    });
  });

  test('operations apply in order, atomically; the input is never modified', () => {
    const before = stored();
    const copy = structuredClone(before);
    expect(
      applyPatch(before, patch({ op: 'replace', path: 'title', value: 'A' }, { op: 'replace', path: 'title', value: 'B' }), USER_TYPE)
        .resource.title,
    ).toBe('B');
    expect(() =>
      applyPatch(before, patch({ op: 'replace', path: 'title', value: 'A' }, { op: 'replace', path: 'nope', value: 'B' }), USER_TYPE),
    ).toThrow();
    expect(before).toEqual(copy);
  });

  test('the result is validated like a POST: removing userName is refused', () => {
    const err = scimError(() => userPatch({ op: 'remove', path: 'userName' }));
    expect(err.scimType).toBe('invalidValue');
    expect(err.message).toContain('"userName" is required');
  });
});

describe('group members', () => {
  const group = () => ({ displayName: 'Ops', externalId: 'x1' });
  const groupPatch = (...ops: unknown[]) => applyPatch(group(), patch(...ops), GROUP_TYPE);

  test('default dialect: Add members with $ref null, Remove members by value array', () => {
    expect(
      groupPatch({
        op: 'Add',
        path: 'members',
        value: [
          { $ref: null, value: 'u1' },
          { $ref: null, value: 'u2' },
        ],
      }),
    ).toEqual({
      resource: group(),
      members: { add: [{ value: 'u1' }, { value: 'u2' }], remove: [] },
    });
    expect(groupPatch({ op: 'Remove', path: 'members', value: [{ value: 'u1' }] }).members).toEqual({ add: [], remove: ['u1'] });
  });

  test('compliant dialect: remove members[value eq "id"]', () => {
    expect(groupPatch({ op: 'remove', path: 'members[value eq "u1"]' }).members).toEqual({ add: [], remove: ['u1'] });
    expect(groupPatch({ op: 'remove', path: 'members[value eq "u1" or value eq "u2"]' }).members).toEqual({
      add: [],
      remove: ['u1', 'u2'],
    });
  });

  test('replace members = remove all + add; remove members alone = remove all', () => {
    expect(groupPatch({ op: 'replace', path: 'members', value: [{ value: 'u3', type: 'User' }] }).members).toEqual({
      removeAll: true,
      add: [{ value: 'u3', type: 'User' }],
      remove: [],
    });
    expect(groupPatch({ op: 'remove', path: 'members' }).members).toEqual({ removeAll: true, add: [], remove: [] });
  });

  test('a sequence keeps add and remove disjoint', () => {
    const m = groupPatch(
      { op: 'add', path: 'members', value: [{ value: 'a' }, { value: 'b' }] },
      { op: 'remove', path: 'members[value eq "a"]' },
      { op: 'remove', path: 'members', value: [{ value: 'c' }] },
      { op: 'add', path: 'members', value: [{ value: 'c' }] },
    ).members;
    expect(m).toEqual({ add: [{ value: 'b' }, { value: 'c' }], remove: ['a'] });
  });

  test('path-less replace of a group with id, displayName and members (compliant dialect)', () => {
    const r = groupPatch({ op: 'replace', value: { id: 'g1', displayName: 'New name', members: [{ value: 'u9' }] } });
    expect(r.resource).toEqual({ displayName: 'New name', externalId: 'x1' });
    expect(r.members).toEqual({ removeAll: true, add: [{ value: 'u9' }], remove: [] });
  });

  test('displayName replace, no member changes', () => {
    const r = groupPatch({ op: 'Replace', path: 'displayName', value: 'Renamed' });
    expect(r).toEqual({ resource: { displayName: 'Renamed', externalId: 'x1' } });
  });

  test('members in the stored resource are never written back', () => {
    const r = applyPatch(
      { displayName: 'Ops', members: [{ value: 'u1' }] },
      patch({ op: 'replace', path: 'displayName', value: 'X' }),
      GROUP_TYPE,
    );
    expect(r.resource).toEqual({ displayName: 'X' });
  });

  test.each<[string, unknown, string]>([
    ['members.value', { op: 'add', path: 'members.value', value: 'u1' }, 'invalidPath'],
    ['add members[...]', { op: 'add', path: 'members[value eq "u1"]', value: [{ value: 'u1' }] }, 'invalidPath'],
    ['remove members[type eq "User"]', { op: 'remove', path: 'members[type eq "User"]' }, 'invalidFilter'],
    ['member without value', { op: 'add', path: 'members', value: [{ $ref: null }] }, 'invalidValue'],
    ['member id a number', { op: 'add', path: 'members', value: [{ value: 7 }] }, 'invalidValue'],
    ['members a string', { op: 'add', path: 'members', value: 'u1' }, 'invalidValue'],
    ['member bad key', { op: 'add', path: 'members', value: [{ value: 'u1', __proto__x: 1 }] }, 'invalidSyntax'],
    ['remove displayName', { op: 'remove', path: 'displayName' }, 'invalidValue'],
    ['userName on a group', { op: 'add', path: 'userName', value: 'x' }, 'invalidPath'],
  ])('%s → 400', (_, op, scimType) => {
    expect(scimError(() => groupPatch(op)).scimType).toBe(scimType);
  });

  test('member changes are bounded', () => {
    const value = Array.from({ length: 6000 }, (_, i) => ({ value: `u${i}` }));
    const err = scimError(() => groupPatch({ op: 'add', path: 'members', value }, { op: 'add', path: 'members', value }));
    expect(err.scimType).toBe('invalidValue');
  });
});

describe('hostile and malformed PATCH bodies', () => {
  test.each<[string, unknown, string]>([
    ['not an object', 'x', 'invalidSyntax'],
    ['null', null, 'invalidSyntax'],
    ['an array', [{ op: 'add' }], 'invalidSyntax'],
    ['no schemas', { Operations: [{ op: 'add', path: 'title', value: 'x' }] }, 'invalidSyntax'],
    [
      'wrong schema',
      { schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'], Operations: [{ op: 'add', path: 'title', value: 'x' }] },
      'invalidSyntax',
    ],
    ['schemas a string', { schemas: PATCH_OP, Operations: [{ op: 'add', path: 'title', value: 'x' }] }, 'invalidSyntax'],
    ['Operations missing', { schemas: [PATCH_OP] }, 'invalidSyntax'],
    ['Operations an object', { schemas: [PATCH_OP], Operations: { op: 'add', path: 'title', value: 'x' } }, 'invalidSyntax'],
    ['Operations empty', patch(), 'invalidSyntax'],
    [
      'too many operations',
      patch(...Array.from({ length: PATCH_LIMITS.maxOperations + 1 }, () => ({ op: 'add', path: 'title', value: 'x' }))),
      'invalidSyntax',
    ],
    ['operation not an object', patch('add'), 'invalidSyntax'],
    ['operation null', patch(null), 'invalidSyntax'],
    ['unknown op', patch({ op: 'move', path: 'title', value: 'x' }), 'invalidSyntax'],
    ['op missing', patch({ path: 'title', value: 'x' }), 'invalidSyntax'],
    ['op a number', patch({ op: 1, path: 'title', value: 'x' }), 'invalidSyntax'],
    ['path a number', patch({ op: 'add', path: 5, value: 'x' }), 'invalidPath'],
    ['add without value', patch({ op: 'add', path: 'title' }), 'invalidSyntax'],
    ['path-less remove', patch({ op: 'remove' }), 'noTarget'],
    ['path-less add of a string', patch({ op: 'add', value: 'x' }), 'invalidValue'],
    ['unknown path', patch({ op: 'replace', path: 'favouriteColour', value: 'x' }), 'invalidPath'],
    ['unknown sub path', patch({ op: 'replace', path: 'name.nope', value: 'x' }), 'invalidPath'],
    ['malformed filter path', patch({ op: 'replace', path: 'emails[type eq "work"', value: 'x' }), 'invalidPath'],
    ['unknown path-less key', patch({ op: 'replace', value: { favouriteColour: 'x' } }), 'invalidPath'],
    ['unknown extension key', patch({ op: 'replace', value: { [ENTERPRISE_USER_SCHEMA]: { nope: 1 } } }), 'invalidPath'],
    [
      'unknown extension',
      patch({ op: 'replace', path: 'urn:ietf:params:scim:schemas:extension:custom:2.0:User:x', value: 'x' }),
      'invalidPath',
    ],
    ['readOnly id', patch({ op: 'replace', path: 'id', value: 'x' }), 'mutability'],
    ['readOnly meta', patch({ op: 'replace', path: 'meta.lastModified', value: '2020-01-01T00:00:00Z' }), 'mutability'],
    ['readOnly groups', patch({ op: 'add', path: 'groups', value: [{ value: 'g' }] }), 'mutability'],
    ['remove readOnly id', patch({ op: 'remove', path: 'id' }), 'mutability'],
    [
      'readOnly manager.displayName',
      patch({ op: 'replace', path: `${ENTERPRISE_USER_SCHEMA}:manager.displayName`, value: 'x' }),
      'mutability',
    ],
    ['active "yes"', patch({ op: 'replace', path: 'active', value: 'yes' }), 'invalidValue'],
    ['title a number', patch({ op: 'replace', path: 'title', value: 5 }), 'invalidValue'],
    ['name a string', patch({ op: 'replace', path: 'name', value: 'A B' }), 'invalidValue'],
    ['emails a string', patch({ op: 'add', path: 'emails', value: 'a@b' }), 'invalidValue'],
    ['filtered value not an object', patch({ op: 'replace', path: 'emails[type eq "work"]', value: 'a@b' }), 'invalidValue'],
    ['unknown sub-attribute in a value', patch({ op: 'add', path: 'emails', value: [{ value: 'a', label: 'x' }] }), 'invalidSyntax'],
    ['deep nesting', patch({ op: 'replace', path: 'name', value: nest(10_000) }), 'invalidSyntax'],
    ['deep nesting in a string slot', patch({ op: 'replace', path: 'title', value: nest(10_000) }), 'invalidValue'],
    ['a long string', patch({ op: 'replace', path: 'title', value: 'x'.repeat(5000) }), 'invalidValue'],
    ['__proto__ path', patch({ op: 'add', path: '__proto__', value: { polluted: true } }), 'invalidPath'],
    ['constructor.prototype path', patch({ op: 'add', path: 'constructor.prototype', value: { polluted: true } }), 'invalidPath'],
    [
      '__proto__ path-less key',
      JSON.parse(`{"schemas":["${PATCH_OP}"],"Operations":[{"op":"add","value":{"__proto__":{"polluted":true}}}]}`),
      'invalidPath',
    ],
    [
      '__proto__ in a complex value',
      JSON.parse(`{"schemas":["${PATCH_OP}"],"Operations":[{"op":"replace","path":"name","value":{"__proto__":{"polluted":true}}}]}`),
      'invalidSyntax',
    ],
    [
      '__proto__ in an element',
      JSON.parse(
        `{"schemas":["${PATCH_OP}"],"Operations":[{"op":"add","path":"emails","value":[{"value":"a","__proto__":{"polluted":true}}]}]}`,
      ),
      'invalidSyntax',
    ],
    [
      '__proto__ in an extension value',
      JSON.parse(
        `{"schemas":["${PATCH_OP}"],"Operations":[{"op":"replace","path":"${ENTERPRISE_USER_SCHEMA}","value":{"__proto__":{"polluted":true}}}]}`,
      ),
      'invalidPath',
    ],
    ['filter injection in a path', patch({ op: 'remove', path: 'emails[value eq "x" or 1 eq 1]' }), 'invalidPath'],
  ])('%s → 400 %s', (_, body, scimType) => {
    const before = stored();
    const err = scimError(() => applyPatch(before, body, USER_TYPE));
    expect(err.status).toBe(400);
    expect(err.scimType).toBe(scimType);
    expect(before).toEqual(stored());
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(Object.prototype).not.toHaveProperty('polluted');
  });

  test('an injection-looking value is just a string', () => {
    const value = "x' or PartitionKey ne '";
    expect(userPatch({ op: 'replace', path: 'title', value }).resource.title).toBe(value);
    // and a filter that quotes it matches nothing, never everything
    expect(userPatch({ op: 'remove', path: `emails[value eq "${value}"]` }).resource.emails).toHaveLength(2);
  });
});

function nest(depth: number): unknown {
  let v: unknown = 'x';
  for (let i = 0; i < depth; i++) v = { a: v };
  return v;
}
