import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  CONNECTION_TYPES,
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
});
