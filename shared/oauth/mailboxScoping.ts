/**
 * Limiting ScanRelay's application mail permissions to certain mailboxes with Role Based Access
 * Control for Applications in Exchange Online (RBAC_FOR_APPLICATIONS_URL): the Exchange Online
 * PowerShell that grants the manifest's `rbacRole`s for a management scope. docs/permissions.md and
 * the app-registration tool's output print the same commands, so they never disagree.
 *
 * Such a role assignment is independent of a grant in Microsoft Entra ID, and adds to it: an app
 * registration that also holds the consented, tenant-wide Mail.Send keeps every mailbox, and the
 * scope changes nothing. So the scoped way is: no Mail.Send / Mail.ReadWrite consented in Entra ID.
 */
import { APPLICATION_PERMISSIONS } from './permissions';

export const RBAC_FOR_APPLICATIONS_URL = 'https://learn.microsoft.com/exchange/permissions-exo/application-rbac';
/** The management scope of the scanning users that graphMail ("auth": "application") sends as. */
export const SENDERS_SCOPE = 'ScanRelay senders';
/** The management scope of the one mailbox that mailbox ingest reads. */
export const INGEST_SCOPE = 'ScanRelay mailbox ingest';

export interface ScopingTarget {
  /** The application (client) ID. */
  clientId?: string;
  /** The object ID of the enterprise application (the service principal), not the app registration's. */
  servicePrincipalId?: string;
  /** The name Exchange shows for its pointer to the service principal. */
  displayName?: string;
}

/** A PowerShell single-quoted string. */
const quoted = (value: string) => `'${value.replace(/'/g, "''")}'`;

function rbacRole(permission: string): string {
  const role = APPLICATION_PERMISSIONS.find((p) => p.permission === permission)?.rbacRole;
  if (!role) throw new Error(`The permissions manifest has no RBAC for Applications role for ${permission}.`);
  return quoted(role);
}

/** The commands, one a line (comments start with #); what is unknown is a `<placeholder>`. */
export function mailboxScopingCommands(target: ScopingTarget = {}): string[] {
  const app = target.clientId ?? '<application (client) ID>';
  const sp = target.servicePrincipalId ?? '<object ID of the enterprise application>';
  const senders = quoted(SENDERS_SCOPE);
  const ingest = quoted(INGEST_SCOPE);
  return [
    'Connect-ExchangeOnline',
    '# Exchange\'s pointer to the service principal ("Enterprise applications" shows its object ID).',
    `New-ServicePrincipal -AppId ${app} -ObjectId ${sp} -DisplayName ${quoted(target.displayName ?? 'ScanRelay')}`,
    '# graphMail "auth": "application": the scanning users it may send as, the members of a mail-enabled security group.',
    "$senders = (Get-DistributionGroup -Identity '<mail-enabled security group of the scanning users>').DistinguishedName",
    `New-ManagementScope -Name ${senders} -RecipientRestrictionFilter "MemberOfGroup -eq '$senders'"`,
    `New-ManagementRoleAssignment -App ${app} -Role ${rbacRole('Mail.Send')} -CustomResourceScope ${senders}`,
    "# Messages over 3.5 MB are sent from a draft in the sender's mailbox: Mail.ReadWrite for the same users.",
    `New-ManagementRoleAssignment -App ${app} -Role ${rbacRole('Mail.ReadWrite')} -CustomResourceScope ${senders}`,
    '# Mailbox ingest: the one mailbox it reads.',
    `New-ManagementScope -Name ${ingest} -RecipientRestrictionFilter "PrimarySmtpAddress -eq '<address of the ingest mailbox>'"`,
    `New-ManagementRoleAssignment -App ${app} -Role ${rbacRole('Mail.ReadWrite')} -CustomResourceScope ${ingest}`,
    '# Check: InScope is True for a scanning user, False for a mailbox outside the scopes.',
    `Test-ServicePrincipalAuthorization -Identity ${app} -Resource '<address of a scanning user>'`,
  ];
}
