/** The table of Entra (AADSTS) failures: every listed code named, with a catalog code, a state and a sentence. */
import { ERRORS, type ErrorEntry } from '../../shared/errors';
import { aadstsCodes, ENTRA_ERRORS, nameEntraError } from '../../shared/oauth/entraErrors';

const EXPECTED: [number, string, string][] = [
  [700082, 'refresh_token_expired', 'reauthorization_required'],
  [70043, 'sign_in_frequency', 'reauthorization_required'],
  [50173, 'tokens_revoked', 'reauthorization_required'],
  [50076, 'mfa_required', 'reauthorization_required'],
  [50079, 'mfa_required', 'reauthorization_required'],
  [50158, 'mfa_required', 'reauthorization_required'],
  [53003, 'blocked_by_conditional_access', 'reauthorization_required'],
  [65001, 'consent_missing', 'reauthorization_required'],
  [7000215, 'client_secret_invalid', 'error'],
  [7000222, 'client_secret_expired', 'error'],
  [700016, 'app_not_in_tenant', 'error'],
  [700211, 'federated_credential_refused', 'error'],
  [700212, 'federated_credential_refused', 'error'],
  [700213, 'federated_credential_refused', 'error'],
  [70021, 'federated_credential_refused', 'error'],
  [700024, 'federated_credential_refused', 'error'],
  [50020, 'wrong_tenant_account', 'reauthorization_required'],
  [90072, 'wrong_tenant_account', 'reauthorization_required'],
  [50011, 'redirect_uri_mismatch', 'error'],
];

const ctx = {
  tenant: 'contoso.example',
  clientId: '3f1c2b7a-9d4e-4c8a-a1b2-0c9d8e7f6a5b',
  secretName: 'oauth-client-secret-onedrive',
  redirectUri: 'https://scanrelay.contoso.example/api/oauth2/client/oneDrive/authorize-callback',
  account: 'scans@contoso.example',
};

it.each(EXPECTED)('AADSTS%s is %s, state %s, a catalog code of kind connection', (aadsts, code, state) => {
  const entry = ENTRA_ERRORS.get(aadsts)!;
  expect(entry).toMatchObject({ code, state });
  const catalog = (ERRORS as Record<string, ErrorEntry>)[code]!;
  expect(catalog.kinds).toContain('connection');
  expect(catalog.meaning).toContain(String(aadsts));
  const sentence = entry.sentence(ctx);
  expect(sentence).toMatch(/\.$/);
  expect(sentence.length).toBeLessThan(600);
});

it('names every listed code and no other', () => {
  expect([...ENTRA_ERRORS.keys()].sort()).toEqual(EXPECTED.map(([c]) => c).sort());
});

it('app configuration failures say what to fix, with the secret the type uses', () => {
  expect(ENTRA_ERRORS.get(7000222)!.sentence(ctx)).toContain(
    'Create a new one (npm run app-registration) and store it in Key Vault as oauth-client-secret-onedrive',
  );
  expect(ENTRA_ERRORS.get(7000215)!.sentence(ctx)).toContain('oauth-client-secret-onedrive');
  expect(ENTRA_ERRORS.get(700016)!.sentence(ctx)).toContain('contoso.example');
  expect(ENTRA_ERRORS.get(50011)!.sentence(ctx)).toContain(`Add exactly ${ctx.redirectUri} as a Web redirect URI`);
  expect(ENTRA_ERRORS.get(50011)!.sentence({})).toContain('GET /api/connections');
});

it('reads the AADSTS code from MSAL errors and descriptions', () => {
  expect(aadstsCodes('AADSTS700082: The refresh token has expired. Trace ID: x')).toEqual([700082]);
  expect(
    aadstsCodes({
      errorCode: 'invalid_grant',
      errorMessage: '7000222 - [2026-01-01]: AADSTS7000222: The provided client secret keys are expired.',
    }),
  ).toEqual([7000222]);
  expect(aadstsCodes({ errorNo: '53003', errorMessage: 'AADSTS53003: blocked' })).toEqual([53003, 53003]);
  // 7000215 is not 700021 and 50011 not 500113: whole numbers only.
  expect(nameEntraError('AADSTS500113: No reply address is registered for the application.')).toBeUndefined();
  expect(nameEntraError('AADSTS7000215: Invalid client secret provided.')?.code).toBe('client_secret_invalid');
});

it('answers undefined for codes not in the table, and names the code in its message', () => {
  expect(nameEntraError('AADSTS70008: expired')).toBeUndefined();
  expect(nameEntraError(new Error('network'))).toBeUndefined();
  expect(nameEntraError(undefined)).toBeUndefined();
  const named = nameEntraError({ errorMessage: 'AADSTS70043: sign-in frequency' }, ctx)!;
  expect(named).toMatchObject({ aadsts: 70043, code: 'sign_in_frequency', state: 'reauthorization_required' });
  expect(named.message).toMatch(/\(AADSTS70043\)$/);
});

it('never repeats what the identity platform sent beyond the code', () => {
  const named = nameEntraError({ errorMessage: "AADSTS7000215: Invalid client secret provided for 'sekrit-value-123'." }, ctx)!;
  expect(named.message).not.toContain('sekrit-value-123');
});
