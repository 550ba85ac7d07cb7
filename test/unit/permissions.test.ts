import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ADMIN_ROLE, READER_ROLE, SIGN_IN_CALLBACK_PATH } from '../../shared/access';
import { mailboxScopingCommands } from '../../shared/oauth/mailboxScoping';
import {
  APPLICATION_PERMISSIONS,
  applicationPermissions,
  CONNECTION_TYPES,
  CONSOLE_APP_ROLES,
  CONSOLE_REDIRECT_PATH,
  PERMISSIONS,
  isConnectionType,
  redirectPath,
  requestedScopes,
  requiredScopes,
} from '../../shared/oauth/permissions';
import { renderPermissionsDoc } from '../../shared/oauth/permissionsDoc';

describe('the permissions manifest', () => {
  it('docs/permissions.md is what `npm run docs` generates from it (run `npm run docs` when this fails)', () => {
    const committed = readFileSync(join(__dirname, '..', '..', 'docs', 'permissions.md'), 'utf8');
    expect(committed).toBe(renderPermissionsDoc());
  });

  it.each(CONNECTION_TYPES)('%s asks for offline_access and openid, and explains every scope', (type) => {
    const scopes = requestedScopes(type);
    expect(requiredScopes(type)).toEqual(expect.arrayContaining(['offline_access', 'openid']));
    expect(new Set(scopes).size).toBe(scopes.length);
    for (const s of PERMISSIONS[type].scopes) {
      expect(s.why.length).toBeGreaterThan(10);
      expect(s.how.length).toBeGreaterThan(10);
    }
  });

  it.each(CONNECTION_TYPES)('%s asks for scopes of one resource only (one authorize request gets one resource)', (type) => {
    const resources = new Set(
      requestedScopes(type)
        .filter((s) => s.includes('://'))
        .map((s) => new URL(s).origin),
    );
    expect(resources.size).toBe(1);
  });

  it('gives each connection type its own callback route', () => {
    expect(redirectPath('smtpMicrosoft')).toBe('/api/oauth2/client/smtpMicrosoft/authorize-callback');
    expect(new Set(CONNECTION_TYPES.map(redirectPath)).size).toBe(CONNECTION_TYPES.length);
  });

  it('knows its connection types and nothing else', () => {
    expect(isConnectionType('sharePoint')).toBe(true);
    expect(isConnectionType('SharePoint')).toBe(false);
    expect(isConnectionType('__proto__')).toBe(false);
  });

  it("defines the console's app roles with fixed GUIDs, assignable to users, and the console's redirect path", () => {
    expect(CONSOLE_APP_ROLES.map((r) => r.value)).toEqual([ADMIN_ROLE, READER_ROLE]);
    // Fixed for good: assignments in customers' tenants refer to these ids.
    expect(CONSOLE_APP_ROLES.map((r) => r.id)).toEqual(['676b1ae3-3ad4-471d-9ab0-6bb80d38b67f', 'ed471321-8349-4cd8-8726-94d0adce82aa']);
    for (const r of CONSOLE_APP_ROLES) {
      expect(r.allowedMemberTypes).toEqual(['User']);
      expect(r.description.length).toBeGreaterThan(10);
      expect(r.value).toMatch(/^[A-Za-z0-9.]+$/);
    }
    expect(CONSOLE_REDIRECT_PATH).toBe(SIGN_IN_CALLBACK_PATH);
    expect(CONSOLE_REDIRECT_PATH).toBe('/api/console/signin-callback');
  });

  it('requests the tenant-wide mail permissions only when asked for, and names the RBAC for Applications role of each', () => {
    const values = (list: readonly { permission: string }[]) => list.map((p) => p.permission);
    expect(values(applicationPermissions({ mail: false }))).toEqual(['User.Read.All', 'Files.ReadWrite.All', 'GroupMember.Read.All']);
    expect(values(applicationPermissions({ mail: true }))).toEqual(values(APPLICATION_PERMISSIONS));
    expect(APPLICATION_PERMISSIONS.filter((p) => p.optIn).map((p) => [p.permission, p.rbacRole])).toEqual([
      ['Mail.Send', 'Application Mail.Send'],
      ['Mail.ReadWrite', 'Application Mail.ReadWrite'],
    ]);
  });

  it('documents how to scope them with RBAC for Applications, and that the Entra grant must then not be given', () => {
    const doc = renderPermissionsDoc();
    expect(doc).toContain('https://learn.microsoft.com/exchange/permissions-exo/application-rbac');
    expect(doc).toContain('do **not** grant these permissions in Entra ID');
    for (const command of mailboxScopingCommands()) expect(doc).toContain(command);
    const commands = mailboxScopingCommands({ clientId: 'c-id', servicePrincipalId: 'sp-id', displayName: "O'Neil's ScanRelay" });
    expect(commands).toContain("New-ServicePrincipal -AppId c-id -ObjectId sp-id -DisplayName 'O''Neil''s ScanRelay'");
    expect(commands).toContain(`New-ManagementScope -Name 'ScanRelay senders' -RecipientRestrictionFilter "MemberOfGroup -eq '$senders'"`);
    expect(commands).toContain(
      "New-ManagementRoleAssignment -App c-id -Role 'Application Mail.Send' -CustomResourceScope 'ScanRelay senders'",
    );
    expect(commands).toContain(
      "New-ManagementRoleAssignment -App c-id -Role 'Application Mail.ReadWrite' -CustomResourceScope 'ScanRelay mailbox ingest'",
    );
    expect(commands).toContain("Test-ServicePrincipalAuthorization -Identity c-id -Resource '<address of a scanning user>'");
  });
});
