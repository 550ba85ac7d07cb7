/** Renders docs/permissions.md from the permissions manifest (`npm run docs`). */
import { APPLICATION_PERMISSIONS, CONNECTION_TYPES, PERMISSIONS, redirectPath } from './permissions';

const cell = (text: string) => text.replace(/\|/g, '\\|').replace(/\r?\n/g, ' ');

export function renderPermissionsDoc(): string {
  const lines = [
    '# Permissions',
    '',
    '<!-- Generated from shared/oauth/permissions.ts by `npm run docs`; a test fails when it is stale. -->',
    '',
    'ScanRelay requests these permissions from Microsoft Entra ID. Delegated scopes are granted when an',
    'administrator authorizes a connection (they act as the account that signs in); application',
    'permissions are granted to the app registration by an administrator and act without a user.',
    '',
  ];
  for (const type of CONNECTION_TYPES) {
    const p = PERMISSIONS[type];
    lines.push(`## ${p.displayName} (\`${type}\`)`, '', `Redirect URI: \`https://<your host>${redirectPath(type)}\``, '');
    lines.push('| Scope | Required | Why | How |', '|---|---|---|---|');
    for (const s of p.scopes) {
      lines.push(`| \`${cell(s.scope)}\` | ${s.required ? 'yes' : 'no'} | ${cell(s.why)} | ${cell(s.how)} |`);
    }
    lines.push('');
  }
  lines.push('## Application permissions (Microsoft Graph)', '', '| Permission | Used by | Why | How |', '|---|---|---|---|');
  for (const a of APPLICATION_PERMISSIONS) {
    lines.push(`| \`${cell(a.permission)}\` | ${cell(a.usedBy)} | ${cell(a.why)} | ${cell(a.how)} |`);
  }
  lines.push('');
  return lines.join('\n');
}
