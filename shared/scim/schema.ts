/**
 * The SCIM schemas ScanRelay serves (RFC 7643 §4, §8.7): the core User with the enterprise
 * extension and ScanRelay's own extension (homeDirectory), and the core Group. One description
 * drives validation, attribute-name resolution (names are case-insensitive, RFC 7643 §2.1),
 * filtering (caseExact), projection (returned) and the /Schemas endpoint.
 */

export type AttributeType = 'string' | 'boolean' | 'decimal' | 'integer' | 'dateTime' | 'reference' | 'complex' | 'binary';

export interface Attribute {
  name: string;
  type: AttributeType;
  multiValued?: boolean;
  /** String comparison is case-sensitive (RFC 7643 §2.3.1); false unless set. */
  caseExact?: boolean;
  mutability?: 'readOnly' | 'readWrite' | 'immutable' | 'writeOnly';
  returned?: 'always' | 'never' | 'default' | 'request';
  uniqueness?: 'none' | 'server' | 'global';
  required?: boolean;
  description?: string;
  referenceTypes?: string[];
  canonicalValues?: string[];
  subAttributes?: Attribute[];
}

export interface Schema {
  id: string;
  name: string;
  description: string;
  attributes: Attribute[];
}

export const USER_SCHEMA = 'urn:ietf:params:scim:schemas:core:2.0:User';
export const GROUP_SCHEMA = 'urn:ietf:params:scim:schemas:core:2.0:Group';
export const ENTERPRISE_USER_SCHEMA = 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User';
/** ScanRelay's extension: what delivery needs that the standard schemas lack. */
export const SCANRELAY_USER_SCHEMA = 'urn:ietf:params:scim:schemas:extension:scanrelay:2.0:User';

export const LIST_RESPONSE = 'urn:ietf:params:scim:api:messages:2.0:ListResponse';
export const PATCH_OP = 'urn:ietf:params:scim:api:messages:2.0:PatchOp';
export const ERROR_SCHEMA = 'urn:ietf:params:scim:api:messages:2.0:Error';

const str = (name: string, extra: Partial<Attribute> = {}): Attribute => ({ name, type: 'string', ...extra });

/** A multi-valued attribute with value/display/type/primary (emails, phoneNumbers, ims, photos...). */
const multi = (name: string, types: string[], valueType: AttributeType = 'string'): Attribute => ({
  name,
  type: 'complex',
  multiValued: true,
  subAttributes: [
    { name: 'value', type: valueType },
    str('display'),
    str('type', { canonicalValues: types }),
    { name: 'primary', type: 'boolean' },
  ],
});

const reference = (name: string, referenceTypes: string[], extra: Partial<Attribute> = {}): Attribute => ({
  name,
  type: 'reference',
  referenceTypes,
  caseExact: true,
  ...extra,
});

/** `id`, `externalId` and `meta` (RFC 7643 §3.1), common to every resource. */
const COMMON: Attribute[] = [
  str('id', { caseExact: true, mutability: 'readOnly', returned: 'always', uniqueness: 'server' }),
  str('externalId', { caseExact: true }),
  {
    name: 'meta',
    type: 'complex',
    mutability: 'readOnly',
    subAttributes: [
      str('resourceType', { caseExact: true, mutability: 'readOnly' }),
      { name: 'created', type: 'dateTime', mutability: 'readOnly' },
      { name: 'lastModified', type: 'dateTime', mutability: 'readOnly' },
      reference('location', ['uri'], { mutability: 'readOnly' }),
      str('version', { caseExact: true, mutability: 'readOnly' }),
    ],
  },
];

export const USER: Schema = {
  id: USER_SCHEMA,
  name: 'User',
  description: 'User Account',
  attributes: [
    str('userName', { required: true, uniqueness: 'server', description: 'Unique identifier for the User, typically the UPN.' }),
    {
      name: 'name',
      type: 'complex',
      subAttributes: ['formatted', 'familyName', 'givenName', 'middleName', 'honorificPrefix', 'honorificSuffix'].map((n) => str(n)),
    },
    str('displayName'),
    str('nickName'),
    reference('profileUrl', ['external']),
    str('title'),
    str('userType'),
    str('preferredLanguage'),
    str('locale'),
    str('timezone'),
    { name: 'active', type: 'boolean' },
    str('password', { mutability: 'writeOnly', returned: 'never' }),
    multi('emails', ['work', 'home', 'other']),
    multi('phoneNumbers', ['work', 'home', 'mobile', 'fax', 'pager', 'other']),
    multi('ims', ['aim', 'gtalk', 'icq', 'xmpp', 'msn', 'skype', 'qq', 'yahoo']),
    multi('photos', ['photo', 'thumbnail'], 'reference'),
    {
      name: 'addresses',
      type: 'complex',
      multiValued: true,
      subAttributes: [
        ...['formatted', 'streetAddress', 'locality', 'region', 'postalCode', 'country'].map((n) => str(n)),
        str('type', { canonicalValues: ['work', 'home', 'other'] }),
        { name: 'primary', type: 'boolean' },
      ],
    },
    {
      name: 'groups',
      type: 'complex',
      multiValued: true,
      mutability: 'readOnly',
      subAttributes: [
        str('value', { mutability: 'readOnly' }),
        reference('$ref', ['User', 'Group'], { mutability: 'readOnly' }),
        str('display', { mutability: 'readOnly' }),
        str('type', { mutability: 'readOnly', canonicalValues: ['direct', 'indirect'] }),
      ],
    },
    multi('entitlements', []),
    multi('roles', []),
    multi('x509Certificates', [], 'binary'),
  ],
};

export const ENTERPRISE_USER: Schema = {
  id: ENTERPRISE_USER_SCHEMA,
  name: 'EnterpriseUser',
  description: 'Enterprise User',
  attributes: [
    str('employeeNumber'),
    str('costCenter'),
    str('organization'),
    str('division'),
    str('department'),
    {
      name: 'manager',
      type: 'complex',
      subAttributes: [str('value'), reference('$ref', ['User']), str('displayName', { mutability: 'readOnly' })],
    },
  ],
};

export const SCANRELAY_USER: Schema = {
  id: SCANRELAY_USER_SCHEMA,
  name: 'ScanRelayUser',
  description: 'What ScanRelay needs to deliver scans that the standard schemas lack',
  attributes: [
    str('homeDirectory', {
      caseExact: true,
      description: "The user's home folder below a file share destination's root (fills %userHome%).",
    }),
  ],
};

export const GROUP: Schema = {
  id: GROUP_SCHEMA,
  name: 'Group',
  description: 'Group',
  attributes: [
    str('displayName', { required: true }),
    {
      name: 'members',
      type: 'complex',
      multiValued: true,
      subAttributes: [
        str('value', { caseExact: true, mutability: 'immutable' }),
        reference('$ref', ['User', 'Group'], { mutability: 'immutable' }),
        str('display', { mutability: 'readOnly' }),
        str('type', { mutability: 'immutable', canonicalValues: ['User', 'Group'] }),
      ],
    },
  ],
};

export interface ResourceType {
  name: 'User' | 'Group';
  endpoint: '/Users' | '/Groups';
  schema: Schema;
  extensions: Schema[];
  /** Schema URNs a request body may name that carry no attributes here: accepted, not returned. */
  acceptedSchemas: string[];
}

/**
 * The schema Microsoft Learn's "Develop and plan provisioning for a SCIM endpoint" shows in Entra's
 * group create request, beside the core Group schema; it adds no attribute ScanRelay keeps.
 */
export const ADSCIM_GROUP_SCHEMA = 'http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group';

export const USER_TYPE: ResourceType = {
  name: 'User',
  endpoint: '/Users',
  schema: USER,
  extensions: [ENTERPRISE_USER, SCANRELAY_USER],
  acceptedSchemas: [],
};
export const GROUP_TYPE: ResourceType = {
  name: 'Group',
  endpoint: '/Groups',
  schema: GROUP,
  extensions: [],
  acceptedSchemas: [ADSCIM_GROUP_SCHEMA],
};
export const RESOURCE_TYPES: readonly ResourceType[] = [USER_TYPE, GROUP_TYPE];
export const SCHEMAS: readonly Schema[] = [USER, ENTERPRISE_USER, SCANRELAY_USER, GROUP];

/** Where an attribute path leads: the schema URN ('' for the resource's core schema), the attribute and sub-attribute. */
export interface ResolvedPath {
  /** The extension URN when the attribute belongs to an extension; undefined for core and common attributes. */
  extension?: string;
  attribute: Attribute;
  sub?: Attribute;
}

/** An attribute of a list by name, case-insensitively. */
export const byName = (attrs: readonly Attribute[] | undefined, name: string): Attribute | undefined =>
  attrs?.find((a) => a.name.toLowerCase() === name.toLowerCase());

/**
 * Resolves `attr`, `attr.sub`, `urn:...:attr` or `urn:...:attr.sub` against a resource type, case-insensitively.
 * Returns undefined for an unknown attribute (the caller answers invalidPath/invalidFilter/invalidSyntax).
 */
export function resolvePath(type: ResourceType, path: string): ResolvedPath | undefined {
  let rest = path;
  let schemas: Schema[] = [type.schema];
  let extension: string | undefined;
  const lower = path.toLowerCase();
  const urn = [type.schema, ...type.extensions].find((s) => lower.startsWith(s.id.toLowerCase() + ':'));
  if (urn) {
    rest = path.slice(urn.id.length + 1);
    schemas = [urn];
    if (urn !== type.schema) extension = urn.id;
  }
  const [attrName, subName, ...more] = rest.split('.');
  if (!attrName || more.length > 0) return undefined;
  let attribute: Attribute | undefined;
  for (const s of schemas) attribute ??= byName(s.attributes, attrName);
  if (!urn) attribute ??= byName(COMMON, attrName);
  if (!attribute) return undefined;
  if (subName === undefined) return { extension, attribute };
  const sub = byName(attribute.subAttributes, subName);
  return sub ? { extension, attribute, sub } : undefined;
}

/** The extension schema for a URN key of a resource body (case-insensitive), if the type has it. */
export function extensionFor(type: ResourceType, key: string): Schema | undefined {
  return type.extensions.find((s) => s.id.toLowerCase() === key.toLowerCase());
}

/** An attribute of the core schema or the common ones (id, externalId, meta), case-insensitively. */
export function coreAttribute(type: ResourceType, name: string): Attribute | undefined {
  return byName(type.schema.attributes, name) ?? byName(COMMON, name);
}

/** A sub-attribute by name, case-insensitively. */
export function subAttribute(attribute: Attribute, name: string): Attribute | undefined {
  return byName(attribute.subAttributes, name);
}

/** The /Schemas representation of a schema (RFC 7643 §7). */
export function schemaResource(schema: Schema, location: string): Record<string, unknown> {
  const render = (a: Attribute): Record<string, unknown> => ({
    name: a.name,
    type: a.type,
    multiValued: a.multiValued ?? false,
    description: a.description ?? '',
    required: a.required ?? false,
    caseExact: a.caseExact ?? false,
    mutability: a.mutability ?? 'readWrite',
    returned: a.returned ?? 'default',
    uniqueness: a.uniqueness ?? 'none',
    ...(a.canonicalValues?.length ? { canonicalValues: a.canonicalValues } : {}),
    ...(a.referenceTypes ? { referenceTypes: a.referenceTypes } : {}),
    ...(a.subAttributes ? { subAttributes: a.subAttributes.map(render) } : {}),
  });
  return {
    schemas: ['urn:ietf:params:scim:schemas:core:2.0:Schema'],
    id: schema.id,
    name: schema.name,
    description: schema.description,
    attributes: schema.attributes.map(render),
    meta: { resourceType: 'Schema', location: `${location}/Schemas/${schema.id}` },
  };
}
