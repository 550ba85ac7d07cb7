/**
 * Entra users and groups (Microsoft Graph) as the SCIM resources the directory stores, with the
 * same attributes Entra's own SCIM provisioning maps by default
 * (https://learn.microsoft.com/entra/identity/app-provisioning/customize-application-attributes):
 * userPrincipalName → userName, accountEnabled → active, givenName/surname → name, mail → the work
 * e-mail, jobTitle → title, department and employeeId → the enterprise extension. externalId is the
 * Entra object id: it is how the sync finds its own rows again.
 *
 * Delta rounds after the first return an updated object with its id and (at least) the changed
 * properties only (https://learn.microsoft.com/graph/delta-query-overview, "Resource
 * representation in the delta query response"), so a property that is absent means "unchanged":
 * the stored attribute is kept. A property present as null was cleared: the attribute goes.
 */
import { ENTERPRISE_USER_SCHEMA, GROUP_SCHEMA, USER_SCHEMA } from '../scim';

/** The user properties the sync asks for ($select); Graph returns only a default set otherwise. */
export const USER_SELECT = [
  'id',
  'userPrincipalName',
  'mail',
  'givenName',
  'surname',
  'displayName',
  'accountEnabled',
  'department',
  'employeeId',
  'jobTitle',
];

export interface GraphUser {
  id: string;
  userPrincipalName?: string;
  mail?: string | null;
  givenName?: string | null;
  surname?: string | null;
  displayName?: string | null;
  accountEnabled?: boolean | null;
  department?: string | null;
  employeeId?: string | null;
  jobTitle?: string | null;
  '@removed'?: { reason?: string };
}

export interface GraphMemberRef {
  '@odata.type'?: string;
  id: string;
  '@removed'?: { reason?: string };
}

export interface GraphGroup {
  id: string;
  displayName?: string | null;
  'members@delta'?: GraphMemberRef[];
  '@removed'?: { reason?: string };
}

/** True when the object carries every property the sync selects (a first-round or single-object read). */
export function isComplete(u: GraphUser): boolean {
  return USER_SELECT.every((p) => p in u);
}

const setOrDelete = (target: Record<string, unknown>, key: string, value: unknown) => {
  if (value === null || value === undefined || value === '') delete target[key];
  else target[key] = value;
};

/**
 * The SCIM resource of a user: `base` (the stored resource, or nothing) with the properties `u`
 * carries applied, and `active` as decided by the caller (enabled and in scope).
 */
export function userResource(base: Record<string, unknown> | undefined, u: GraphUser, active: boolean): Record<string, unknown> {
  const r: Record<string, unknown> = structuredClone(base ?? {});
  const schemas = new Set<string>(Array.isArray(r.schemas) ? (r.schemas as string[]) : []);
  schemas.add(USER_SCHEMA);
  r.schemas = [...schemas];
  if (u.userPrincipalName) r.userName = u.userPrincipalName;
  r.externalId = u.id.toLowerCase();
  r.active = active;
  if ('displayName' in u) setOrDelete(r, 'displayName', u.displayName);
  if ('jobTitle' in u) setOrDelete(r, 'title', u.jobTitle);
  if ('givenName' in u || 'surname' in u) {
    const name: Record<string, unknown> = { ...((r.name as Record<string, unknown> | undefined) ?? {}) };
    if ('givenName' in u) setOrDelete(name, 'givenName', u.givenName);
    if ('surname' in u) setOrDelete(name, 'familyName', u.surname);
    setOrDelete(r, 'name', Object.keys(name).length > 0 ? name : undefined);
  }
  if ('mail' in u) setOrDelete(r, 'emails', u.mail ? [{ value: u.mail, type: 'work', primary: true }] : undefined);
  if ('department' in u || 'employeeId' in u) {
    const ent: Record<string, unknown> = { ...((r[ENTERPRISE_USER_SCHEMA] as Record<string, unknown> | undefined) ?? {}) };
    if ('department' in u) setOrDelete(ent, 'department', u.department);
    if ('employeeId' in u) setOrDelete(ent, 'employeeNumber', u.employeeId);
    setOrDelete(r, ENTERPRISE_USER_SCHEMA, Object.keys(ent).length > 0 ? ent : undefined);
  }
  r.schemas = (r.schemas as string[])
    .filter((s) => s !== ENTERPRISE_USER_SCHEMA)
    .concat(r[ENTERPRISE_USER_SCHEMA] ? [ENTERPRISE_USER_SCHEMA] : []);
  return r;
}

/** The SCIM resource of a group (members are rows of their own, not part of it). */
export function groupResource(id: string, displayName: string): Record<string, unknown> {
  return { schemas: [GROUP_SCHEMA], displayName, externalId: id.toLowerCase() };
}

/** JSON equality that ignores key order: an unchanged resource is not written again. */
export function sameResource(a: unknown, b: unknown): boolean {
  return canonical(a) === canonical(b);
}

function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (v && typeof v === 'object') {
    return `{${Object.keys(v)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical((v as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v);
}
