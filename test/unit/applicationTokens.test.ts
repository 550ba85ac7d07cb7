/** App-only tokens are kept until shortly before they expire; a forced refresh asks again. */
import { ApplicationTokens } from '../../shared/oauth';
import type { MsalClients } from '../../shared/oauth/msalClient';

function tokens(lifetimeMs: number) {
  const asked: Array<{ scopes: string[]; skipCache?: boolean }> = [];
  let n = 0;
  const app = {
    acquireTokenByClientCredential: async (request: { scopes: string[]; skipCache?: boolean }) => {
      asked.push(request);
      return { accessToken: `token-${++n}`, expiresOn: new Date(Date.now() + lifetimeMs) };
    },
  };
  const msal = { createApplication: async () => app } as unknown as MsalClients;
  return { t: new ApplicationTokens(msal, 'contoso.example'), asked };
}

it('a token is reused per resource until five minutes before it expires', async () => {
  const { t, asked } = tokens(60 * 60_000);
  expect(await t.get('https://graph.microsoft.com')).toBe('token-1');
  expect(await t.get('https://graph.microsoft.com')).toBe('token-1');
  expect(await t.get('https://outlook.office365.com')).toBe('token-2');
  expect(asked.map((a) => a.scopes)).toEqual([['https://graph.microsoft.com/.default'], ['https://outlook.office365.com/.default']]);
});

it('a forced refresh (Graph refused the token) asks the identity platform again, skipping its cache', async () => {
  const { t, asked } = tokens(60 * 60_000);
  await t.get('https://graph.microsoft.com');
  expect(await t.get('https://graph.microsoft.com', true)).toBe('token-2');
  expect(asked[1]).toMatchObject({ skipCache: true });
  expect(await t.get('https://graph.microsoft.com')).toBe('token-2');
});

it('a token with less than five minutes left is not used', async () => {
  const { t, asked } = tokens(4 * 60_000);
  await t.get('https://graph.microsoft.com');
  await t.get('https://graph.microsoft.com');
  expect(asked).toHaveLength(2);
});

it('a multi-tenant authority gets no app-only token, whatever is kept', async () => {
  const msal = { createApplication: async () => ({}) } as unknown as MsalClients;
  await expect(new ApplicationTokens(msal, 'organizations').get('https://graph.microsoft.com')).rejects.toThrow(/OAUTH_TENANT/);
});
