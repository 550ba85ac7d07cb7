/**
 * The user facts delivery fills in from the directory (shared/storage/directory.ts): a job's
 * `username` (the UPN or SCIM userName the printer sent) resolved to the user's e-mail, names and
 * home folder, whether the user arrived by SCIM or by directory sync. Fields the printer sent
 * always win; only missing or empty ones are filled.
 */
import type { Logger } from '../log';
import { ENTERPRISE_USER_SCHEMA, SCANRELAY_USER_SCHEMA } from '../scim';
import type { StoredUser } from '../storage';

/** Job fields the directory can fill, and where each comes from. */
export interface UserFacts {
  userEmail?: string;
  userFirstName?: string;
  userSurname?: string;
  userHome?: string;
  userDisplayName?: string;
  userDepartment?: string;
}

export type FindUser = (userName: string) => Promise<StoredUser | undefined>;

/** The facts of a stored user: work e-mail (primary first), given and family name, home folder. */
export function userFacts(user: StoredUser): UserFacts {
  const r = user.resource;
  const emails = Array.isArray(r.emails)
    ? (r.emails as Array<Record<string, unknown>>).filter((e) => typeof e?.value === 'string' && e.value)
    : [];
  const rank = (e: Record<string, unknown>) => (e.type === 'work' ? 0 : 2) + (e.primary === true ? 0 : 1);
  const email = [...emails].sort((a, b) => rank(a) - rank(b))[0]?.value as string | undefined;
  const name = (r.name ?? {}) as Record<string, unknown>;
  const str = (v: unknown) => (typeof v === 'string' && v.trim() ? v : undefined);
  const ext = (urn: string) => (r[urn] ?? {}) as Record<string, unknown>;
  return {
    userEmail: str(email),
    userFirstName: str(name.givenName),
    userSurname: str(name.familyName),
    userHome: str(ext(SCANRELAY_USER_SCHEMA).homeDirectory),
    userDisplayName: str(r.displayName),
    userDepartment: str(ext(ENTERPRISE_USER_SCHEMA).department),
  };
}

/**
 * What delivery takes from a stored user: its facts, or nothing from an inactive (disabled) one:
 * a disabled account's mailbox or home folder is not a place to send new scans to.
 */
export function deliveryFacts(user: StoredUser): UserFacts | undefined {
  return user.active ? userFacts(user) : undefined;
}

/**
 * The job's fields with the directory's facts added where the job lacks them (deliveryFacts). A
 * job without a username, or with an unknown or inactive user, gets nothing added.
 */
export async function withDirectoryFacts(
  fields: Readonly<Record<string, string>>,
  findUser: FindUser | undefined,
  log: Logger,
): Promise<Readonly<Record<string, string>>> {
  if (!findUser) return fields;
  const missing = (Object.keys(emptyFacts) as Array<keyof UserFacts>).filter((k) => !fields[k]?.trim());
  if (missing.length === 0) return fields;
  const username = [fields.username, fields.userUsername].find((u) => u?.trim())?.trim();
  if (!username) return fields;
  const user = await findUser(username);
  if (!user) return fields;
  const facts = deliveryFacts(user);
  if (!facts) {
    log.warn("deliver: the job's user is inactive in the directory; its fields were not filled from it", { userId: user.id });
    return fields;
  }
  const filled: Record<string, string> = { ...fields };
  for (const key of missing) if (facts[key]) filled[key] = facts[key];
  return filled;
}

const emptyFacts: Required<Record<keyof UserFacts, true>> = {
  userEmail: true,
  userFirstName: true,
  userSurname: true,
  userHome: true,
  userDisplayName: true,
  userDepartment: true,
};
