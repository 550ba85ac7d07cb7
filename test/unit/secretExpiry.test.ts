import { loadConfig } from '../../shared/config';
import { clientSecretWarnings, configuredClientSecrets } from '../../shared/oauth';
import type * as MsalClient from '../../shared/oauth/msalClient';
import { LocalSecretStore } from '../../shared/secrets';

const ID = '3f1c2b7a-9d4e-4c8a-a1b2-0c9d8e7f6a5b';
const oauth = loadConfig({ AzureWebJobsStorage: 'UseDevelopmentStorage=true', OAUTH_CLIENT_ID: ID, OAUTH_CLIENT_ID_SHAREPOINT: ID }).oauth;
const now = new Date('2026-11-23T00:00:00Z');

describe('client secret expiry', () => {
  it('knows which client secrets are in use', () => {
    expect(configuredClientSecrets(oauth)).toEqual(['oauth-client-secret', 'oauth-client-secret-sharepoint']);
    // The managed identity's federated credential: no secret in use, so none to warn about.
    expect(configuredClientSecrets({ ...oauth, federatedIdentity: { clientId: '7d3e9f10-1111-4222-8333-944455556666' } })).toEqual([]);
  });

  it('warns from 30 days ahead, and says when a secret has expired', async () => {
    const store = new LocalSecretStore('/nonexistent/secrets.json', {
      SECRET_OAUTH_CLIENT_SECRET_EXPIRES_ON: '2026-12-10T00:00:00Z',
      SECRET_OAUTH_CLIENT_SECRET_SHAREPOINT_EXPIRES_ON: '2026-11-01T00:00:00Z',
    });
    const warnings = await clientSecretWarnings(oauth, store, now);
    expect(warnings).toEqual([
      expect.objectContaining({ secret: 'oauth-client-secret', daysLeft: 17, message: expect.stringMatching(/expires in 17 day/) }),
      expect.objectContaining({ secret: 'oauth-client-secret-sharepoint', message: expect.stringMatching(/expired on 2026-11-01/) }),
    ]);
  });

  it('is quiet when expiry is far off or unknown', async () => {
    const store = new LocalSecretStore('/nonexistent/secrets.json', { SECRET_OAUTH_CLIENT_SECRET_EXPIRES_ON: '2027-06-30' });
    await expect(clientSecretWarnings(oauth, store, now)).resolves.toEqual([]);
  });

  it('names a malformed expiry date', async () => {
    const store = new LocalSecretStore('/nonexistent/secrets.json', { SECRET_OAUTH_CLIENT_SECRET_EXPIRES_ON: 'soon' });
    await expect(clientSecretWarnings(oauth, store, now)).rejects.toThrow("secret 'oauth-client-secret'");
  });
});

describe('app registrations per connection type', () => {
  const { clientIdFor, clientSecretName } = jest.requireActual<typeof MsalClient>('../../shared/oauth/msalClient');
  const OTHER = '99999999-8888-4777-8666-555555555555';
  const c = loadConfig({ AzureWebJobsStorage: 'UseDevelopmentStorage=true', OAUTH_CLIENT_ID: ID, OAUTH_CLIENT_ID_SHAREPOINT: OTHER }).oauth;

  it("uses the one app registration by default, and a type's own where configured", () => {
    expect(clientIdFor('smtpMicrosoft', c)).toBe(ID);
    expect(clientSecretName('smtpMicrosoft', c)).toBe('oauth-client-secret');
    expect(clientIdFor('sharePoint', c)).toBe(OTHER);
    expect(clientSecretName('sharePoint', c)).toBe('oauth-client-secret-sharepoint');
  });

  it('names OAUTH_CLIENT_ID when no app registration is configured', () => {
    const none = loadConfig({ AzureWebJobsStorage: 'UseDevelopmentStorage=true' }).oauth;
    expect(() => clientIdFor('oneDrive', none)).toThrow('OAUTH_CLIENT_ID');
  });
});
