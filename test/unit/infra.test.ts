/**
 * The deployment templates, compiled by the real Bicep compiler (restored from NuGet when missing,
 * see tools/infra/bicep.ts) and checked as ARM JSON: the security properties the deployment
 * promises, the exact role set, and that the facts the templates take from the code are current.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { format } from 'node:util';
import { deliverPoisoned } from '../../functions/deliverPoisoned';
import { health } from '../../functions/health';
import { DELIVERY_MAX_ATTEMPTS } from '../../shared/delivery';
import { DELIVERY_QUEUE } from '../../shared/storage';
import { allResources, modules, resourcesOfType, variableRefs, type FoundResource } from '../../tools/infra/arm';
import { buildBicep, REPO_ROOT } from '../../tools/infra/bicep';
import { GENERATED_FILE, renderScanRelayFacts, scanRelayFacts } from '../../tools/infra/scanRelayFacts';

const MAIN = join(REPO_ROOT, 'infra', 'main.bicep');

// Built-in role definition IDs (https://learn.microsoft.com/azure/role-based-access-control/built-in-roles).
const ROLE = {
  storageBlobDataOwner: 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b',
  storageQueueDataContributor: '974c5e8b-45b9-4653-ba55-5f855dd0fb88',
  storageTableDataContributor: '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3',
  keyVaultSecretsUser: '4633458b-17de-408a-b874-0445c86b69e6',
  monitoringMetricsPublisher: '3913510d-42f4-4e42-8a64-420c390055eb',
  keyVaultSecretsOfficer: 'b86a8fe4-44ce-4948-aee5-eccb2c155cd7',
  keyVaultCryptoUser: '12338af0-0e69-4776-bea7-57ae8d297424',
};
const BROAD_ROLES = {
  owner: '8e3af657-a8ff-443c-a75c-2fe8c4bcb635',
  contributor: 'b24988ac-6180-42a0-ab88-20f7382dd24c',
  userAccessAdministrator: '18d7d88d-d35e-4fb5-a5c3-7773c20a72d9',
  storageAccountContributor: '17d1049b-9a84-46fb-8f53-869881c3d3ab',
  keyVaultAdministrator: '00482a5a-887f-4fb3-b363-3b7fe8e74483',
};

let arm: any;
let armText: string;
let diagnostics: string;

beforeAll(() => {
  const built = buildBicep(MAIN);
  arm = built.template;
  diagnostics = built.diagnostics;
  armText = JSON.stringify(arm);
}, 300_000);

const one = (type: string): FoundResource => {
  const found = resourcesOfType(arm, type);
  expect(found).toHaveLength(1);
  return found[0]!;
};

const moduleTemplate = (name: string) => {
  const m = modules(arm).get(name);
  if (!m) throw new Error(`no module deployment '${name}' in main.json`);
  return m;
};

describe('compilation', () => {
  it('main.bicep compiles with no diagnostics (bicepconfig.json makes the linter rules errors)', () => {
    expect(diagnostics).toBe('');
    expect(arm.$schema).toContain('deploymentTemplate.json');
  });

  it('infra/scanrelay.generated.json is what the code says (connection types, redirect paths, storage names)', () => {
    const onDisk = readFileSync(join(REPO_ROOT, GENERATED_FILE), 'utf8');
    // On a mismatch: npm run build && node dist/tools/infra/generate.js
    expect(onDisk).toBe(renderScanRelayFacts());
  });

  it('the compiled template carries every redirect path of the code', () => {
    for (const { redirectPath } of scanRelayFacts().connectionTypes) expect(armText).toContain(redirectPath);
    expect(arm.outputs.redirectUris.value).toContain("variables('facts').connectionTypes");
    expect(arm.outputs.redirectUris.value).toContain('redirectPath');
    expect(scanRelayFacts().consoleRedirectPath).toBe('/api/console/signin-callback');
    expect(armText).toContain(scanRelayFacts().consoleRedirectPath);
    expect(arm.outputs.consoleRedirectUri.value).toContain("variables('facts').consoleRedirectPath");
  });
});

describe('storage account', () => {
  const account = () => one('Microsoft.Storage/storageAccounts').resource;

  it('has no shared-key access, TLS 1.2, HTTPS only and no public blobs', () => {
    expect(account().properties).toMatchObject({
      allowSharedKeyAccess: false,
      minimumTlsVersion: 'TLS1_2',
      supportsHttpsTrafficOnly: true,
      allowBlobPublicAccess: false,
      defaultToOAuthAuthentication: true,
    });
  });

  it('creates the containers, queues and tables of the code', () => {
    const storage = moduleTemplate('storage').template;
    const facts = scanRelayFacts();
    // loadJsonContent is inlined as a variable of the module.
    const loaded = Object.values(storage.variables).find((v: any) => v?.storage?.tables) as any;
    expect(loaded.storage).toEqual(facts.storage);
    const loop = (type: string) => one(type).resource.copy?.count as string;
    expect(loop('Microsoft.Storage/storageAccounts/blobServices/containers')).toContain('storage.containers');
    expect(loop('Microsoft.Storage/storageAccounts/queueServices/queues')).toContain('storage.queues');
    expect(loop('Microsoft.Storage/storageAccounts/tableServices/tables')).toContain('storage.tables');
  });

  it('deletes stored scans after the retention period (a parameter)', () => {
    const policy = one('Microsoft.Storage/storageAccounts/managementPolicies').resource;
    const [rule] = policy.properties.policy.rules;
    expect(rule.enabled).toBe(true);
    expect(rule.definition.filters.prefixMatch).toEqual(["[format('{0}/', variables('facts').storage.scanContainer)]"]);
    expect(rule.definition.actions.baseBlob.delete.daysAfterCreationGreaterThan).toBe("[parameters('scanRetentionDays')]");
    expect(moduleTemplate('storage').deployment.properties.parameters.scanRetentionDays.value).toBe("[parameters('scanRetentionDays')]");
    expect(arm.parameters.scanRetentionDays).toMatchObject({ type: 'int', minValue: 1 });
  });
});

describe('function app', () => {
  const site = () => one('Microsoft.Web/sites').resource;

  it('runs on the Flex Consumption plan (FC1)', () => {
    expect(one('Microsoft.Web/serverfarms').resource.sku).toEqual({ tier: 'FlexConsumption', name: 'FC1' });
    expect(site().kind).toBe('functionapp,linux');
  });

  it('is HTTPS only with minimum TLS 1.2, Node.js 22, and no basic-auth publishing', () => {
    const p = site().properties;
    expect(p.httpsOnly).toBe(true);
    expect(p.siteConfig.minTlsVersion).toBe('1.2');
    expect(p.siteConfig.ftpsState).toBe('Disabled');
    expect(p.functionAppConfig.runtime).toEqual({ name: 'node', version: '22' });
    const policies = resourcesOfType(arm, 'Microsoft.Web/sites/basicPublishingCredentialsPolicies');
    expect(policies.map((f) => f.resource.properties.allow)).toEqual([false, false]);
  });

  it('takes instance memory and maximum instance count from parameters', () => {
    expect(site().properties.functionAppConfig.scaleAndConcurrency).toEqual({
      instanceMemoryMB: "[parameters('instanceMemoryMB')]",
      maximumInstanceCount: "[parameters('maximumInstanceCount')]",
    });
    expect(arm.parameters.instanceMemoryMB.allowedValues).toEqual([512, 2048, 4096]);
    expect(arm.parameters.maximumInstanceCount).toMatchObject({ minValue: 1, maxValue: 1000 });
  });

  it('uses only the user-assigned identity, also for Key Vault references and the deployment package', () => {
    const s = site();
    expect(s.identity.type).toBe('UserAssigned');
    expect(Object.keys(s.identity.userAssignedIdentities)).toEqual(["[format('{0}', parameters('identityId'))]"]);
    expect(s.properties.keyVaultReferenceIdentity).toBe("[parameters('identityId')]");
    expect(s.properties.functionAppConfig.deployment.storage.authentication).toEqual({
      type: 'UserAssignedIdentity',
      userAssignedIdentityResourceId: "[parameters('identityId')]",
    });
    const passed = moduleTemplate('functionApp').deployment.properties.parameters;
    expect(passed.identityId.value).toContain('Microsoft.ManagedIdentity/userAssignedIdentities');
    expect(passed.identityClientId.value).toContain('.clientId');
  });

  it('reaches storage and Application Insights with the identity (no connection string, no key)', () => {
    const settings = moduleTemplate('functionApp').template.variables.appSettings;
    expect(settings.AzureWebJobsStorage).toBeUndefined();
    expect(settings).toMatchObject({
      AzureWebJobsStorage__credential: 'managedidentity',
      AzureWebJobsStorage__clientId: "[parameters('identityClientId')]",
      AzureWebJobsStorage__blobServiceUri: "[parameters('blobServiceUri')]",
      AzureWebJobsStorage__queueServiceUri: "[parameters('queueServiceUri')]",
      AzureWebJobsStorage__tableServiceUri: "[parameters('tableServiceUri')]",
      AZURE_CLIENT_ID: "[parameters('identityClientId')]",
      KEY_VAULT_URL: "[parameters('keyVaultUri')]",
      APPLICATIONINSIGHTS_AUTHENTICATION_STRING: "[format('Authorization=AAD;ClientId={0}', parameters('identityClientId'))]",
    });
  });

  it("sets the host's request size limit to ScanRelay's own", () => {
    const settings = moduleTemplate('functionApp').template.variables.appSettings;
    expect(settings.FUNCTIONS_REQUEST_BODY_SIZE_LIMIT).toBe(settings.SCAN_MAX_REQUEST_BYTES);
    expect(settings.SCAN_MAX_REQUEST_BYTES).toBe("[string(parameters('scanMaxRequestBytes'))]");
    expect(arm.parameters.scanMaxRequestBytes.defaultValue).toBe(100 * 1024 * 1024);
    // The platform's front end accepts at most 210 MB whatever the host allows.
    expect(arm.parameters.scanMaxRequestBytes.maxValue).toBeLessThanOrEqual(210 * 1024 * 1024);
  });

  it('app settings: Key Vault references for secret settings, and no secret in plain values', () => {
    const fa = moduleTemplate('functionApp').template;
    const config = one('Microsoft.Web/sites/config').resource;
    expect(config.name).toContain("'appsettings'");
    expect(config.properties).toBe("[union(variables('appSettings'), variables('perTypeClientIds'), variables('secretReferences'))]");
    expect(fa.variables.secretReferences).toContain("format('@Microsoft.KeyVault(SecretUri={0}secrets/{1}/)', parameters('keyVaultUri')");
    // Setting names that sound secret, and why each one is not.
    const notSecrets: Record<string, string> = {
      KEY_VAULT_URL: 'the vault address',
      TOKEN_WRAPPING_KEY: 'the name of a Key Vault key, whose private part never leaves Key Vault',
      SCAN_SHARED_SECRET_FIELD: 'the name of the form field; the secret is in Key Vault',
      TOKEN_REFRESH_SCHEDULE: 'a schedule',
      TOKEN_REFRESH_MAX_AGE_HOURS: 'a number of hours',
      APPLICATIONINSIGHTS_CONNECTION_STRING: 'only says where to send telemetry: local authentication is disabled',
    };
    for (const [name, value] of Object.entries(fa.variables.appSettings as Record<string, string>)) {
      if (/SECRET|PASSWORD|KEY|TOKEN|CONNECTION_STRING|SAS/i.test(name)) expect(notSecrets).toHaveProperty([name]);
      expect(value).not.toMatch(/AccountKey=|SharedAccessSignature|sig=|listKeys|listSecrets|InstrumentationKey=/i);
    }
  });
});

describe('key vault', () => {
  it('uses RBAC authorization, soft delete and purge protection', () => {
    const vault = one('Microsoft.KeyVault/vaults').resource;
    expect(vault.properties).toMatchObject({
      enableRbacAuthorization: true,
      enableSoftDelete: true,
      enablePurgeProtection: true,
    });
    expect(vault.properties.softDeleteRetentionInDays).toBeGreaterThanOrEqual(7);
    expect(vault.properties.accessPolicies).toBeUndefined();
  });

  it('creates the RSA key that wraps the token data keys: wrap and unwrap only, rotated with an expiry', () => {
    const found = one('Microsoft.KeyVault/vaults/keys');
    expect(found.modulePath).toEqual(['keyVault']);
    const key = found.resource;
    expect(key.name).toBe("[format('{0}/{1}', parameters('name'), parameters('tokenWrappingKeyName'))]");
    expect(key.properties).toMatchObject({ kty: 'RSA', attributes: { enabled: true } });
    expect(key.properties.keySize).toBeGreaterThanOrEqual(2048);
    expect([...key.properties.keyOps].sort()).toEqual(['unwrapKey', 'wrapKey']);
    expect(key.properties.rotationPolicy).toEqual({
      attributes: { expiryTime: "[parameters('tokenWrappingKeyExpiry')]" },
      lifetimeActions: [{ trigger: { timeAfterCreate: "[parameters('tokenWrappingKeyRotation')]" }, action: { type: 'rotate' } }],
    });
    const params = found.template.parameters;
    expect(params.tokenWrappingKeyRotation.defaultValue).toBe('P90D');
    expect(params.tokenWrappingKeyExpiry.defaultValue).toBe('P2Y');
    // The key expires after it has been rotated, long enough for the values sealed with it to be re-sealed.
    const days = (d: string) => Number(/^P(\d+)([DY])$/.exec(d)![1]) * (d.endsWith('Y') ? 365 : 1);
    expect(days(params.tokenWrappingKeyExpiry.defaultValue)).toBeGreaterThan(days(params.tokenWrappingKeyRotation.defaultValue) * 2);
  });

  it('the app registration credential is the managed identity by default (AZURE_CLIENT_ID, no client secret)', () => {
    const fa = moduleTemplate('functionApp');
    const settings = fa.template.variables.appSettings as Record<string, string>;
    expect(settings.OAUTH_CLIENT_CREDENTIAL).toBe("[parameters('oauthClientCredential')]");
    expect(settings.AZURE_CLIENT_ID).toBe("[parameters('identityClientId')]");
    expect(fa.deployment.properties.parameters.oauthClientCredential.value).toBe("[parameters('oauthClientCredential')]");
    expect(arm.parameters.oauthClientCredential).toMatchObject({
      defaultValue: 'managedIdentity',
      allowedValues: ['managedIdentity', 'clientSecret'],
    });
    expect(fa.template.parameters.oauthClientCredential.allowedValues).toEqual(['managedIdentity', 'clientSecret']);
    // The subject of the federated credential (npm run app-registration -- --managed-identity-object-id).
    expect(arm.outputs.managedIdentityPrincipalId.value).toMatch(/principalId/);
  });

  it('the app is told the key by TOKEN_WRAPPING_KEY', () => {
    const fa = moduleTemplate('functionApp');
    expect(fa.template.variables.appSettings.TOKEN_WRAPPING_KEY).toBe("[parameters('tokenWrappingKeyName')]");
    // The same name for the key the vault module creates and the setting the function app gets.
    const passed = (m: string) => moduleTemplate(m).deployment.properties.parameters.tokenWrappingKeyName.value;
    expect(passed('functionApp')).toBe("[variables('tokenWrappingKeyName')]");
    expect(passed('keyVault')).toBe("[variables('tokenWrappingKeyName')]");
    expect(arm.variables.tokenWrappingKeyName).toMatch(/^[0-9a-zA-Z-]{1,127}$/);
  });
});

describe('application insights', () => {
  it('has local authentication disabled and sends to a Log Analytics workspace', () => {
    const ai = one('Microsoft.Insights/components').resource;
    expect(ai.properties.DisableLocalAuth).toBe(true);
    expect(ai.properties.WorkspaceResourceId).toContain('Microsoft.OperationalInsights/workspaces');
  });
});

describe('role assignments', () => {
  /** The role definition GUIDs one assignment grants (a copy loop over a role map grants each). */
  function rolesOf(f: FoundResource): string[] {
    const expr: string = f.resource.properties.roleDefinitionId;
    expect(expr).toMatch(/^\[subscriptionResourceId\('Microsoft\.Authorization\/roleDefinitions', /);
    const values = variableRefs(expr).map((v) => f.template.variables[v]);
    return values.flatMap((v) => (typeof v === 'string' ? [v] : Object.values(v as Record<string, string>)));
  }

  const assignments = () => resourcesOfType(arm, 'Microsoft.Authorization/roleAssignments');

  it('the app identity gets exactly the six data-plane roles it needs, each on its resource', () => {
    const granted = assignments()
      .filter((f) => f.resource.properties.principalId === "[parameters('principalId')]")
      .map((f) => ({ module: f.modulePath.join('/'), scope: f.resource.scope, roles: rolesOf(f) }));
    expect(granted).toHaveLength(4);
    expect(granted).toEqual(
      expect.arrayContaining([
        {
          module: 'storage',
          scope: "[resourceId('Microsoft.Storage/storageAccounts', parameters('name'))]",
          roles: [ROLE.storageBlobDataOwner, ROLE.storageQueueDataContributor, ROLE.storageTableDataContributor],
        },
        { module: 'keyVault', scope: "[resourceId('Microsoft.KeyVault/vaults', parameters('name'))]", roles: [ROLE.keyVaultSecretsUser] },
        // Crypto User on the wrapping key alone, not the vault: no other key of the vault can be used.
        {
          module: 'keyVault',
          scope: "[resourceId('Microsoft.KeyVault/vaults/keys', parameters('name'), parameters('tokenWrappingKeyName'))]",
          roles: [ROLE.keyVaultCryptoUser],
        },
        {
          module: 'monitoring',
          scope: "[resourceId('Microsoft.Insights/components', parameters('appInsightsName'))]",
          roles: [ROLE.monitoringMetricsPublisher],
        },
      ]),
    );
    expect(granted.flatMap((g) => g.roles).sort()).toEqual(
      [
        ROLE.storageBlobDataOwner,
        ROLE.storageQueueDataContributor,
        ROLE.storageTableDataContributor,
        ROLE.keyVaultSecretsUser,
        ROLE.keyVaultCryptoUser,
        ROLE.monitoringMetricsPublisher,
      ].sort(),
    );
    // Every module's principalId is the user-assigned identity's.
    for (const name of ['storage', 'keyVault', 'monitoring']) {
      const passed = moduleTemplate(name).deployment.properties.parameters.principalId.value;
      expect(passed).toMatch(/userAssignedIdentities.*\.principalId\]$/);
    }
  });

  it('the only other assignment is the optional Key Vault Secrets Officer for the operator, on the vault', () => {
    const others = assignments().filter((f) => f.resource.properties.principalId !== "[parameters('principalId')]");
    expect(others).toHaveLength(1);
    const [operator] = others;
    expect(rolesOf(operator!)).toEqual([ROLE.keyVaultSecretsOfficer]);
    expect(operator!.resource.condition).toBe("[not(empty(parameters('operatorPrincipalId')))]");
    expect(operator!.resource.scope).toBe("[resourceId('Microsoft.KeyVault/vaults', parameters('name'))]");
    expect(arm.parameters.operatorPrincipalId.defaultValue).toBe('');
  });

  it('grants nothing broad, nothing at resource-group scope, and names every assignment with guid()', () => {
    for (const f of assignments()) {
      for (const role of rolesOf(f)) expect(Object.values(BROAD_ROLES)).not.toContain(role);
      // Scoped to one resource, never the resource group or the subscription.
      expect(f.resource.scope).toMatch(/^\[resourceId\('Microsoft\.(Storage|KeyVault|Insights)\//);
      expect(f.resource.name).toMatch(/^\[guid\(/);
      // The name depends on the scope, the principal and the role: redeploying finds the same assignment.
      expect(f.resource.name).toMatch(/principalId'\)|operatorPrincipalId'\)/);
    }
    for (const role of Object.values(BROAD_ROLES)) expect(armText).not.toContain(role);
  });
});

describe('outputs and secrets', () => {
  it('outputs the base URL, the redirect URIs and what the next steps need, and no secret', () => {
    expect(Object.keys(arm.outputs).sort()).toEqual(
      [
        'baseUrl',
        'consoleRedirectUri',
        'functionAppName',
        'keyVaultUrl',
        'managedIdentityClientId',
        'managedIdentityPrincipalId',
        'redirectUris',
        'storageAccountName',
        'tenantId',
      ].sort(),
    );
    for (const { template } of [{ template: arm }, ...modules(arm).values()]) {
      for (const [name, output] of Object.entries<any>(template.outputs ?? {})) {
        expect(output.type).not.toMatch(/^secure/i);
        // The App Insights connection string is no credential with local authentication disabled.
        if (name !== 'connectionString') expect(name).not.toMatch(/secret|password|key(?!Vault)|token|connectionString/i);
      }
    }
  });

  it('never reads keys or secrets in the template', () => {
    expect(armText).not.toMatch(/listKeys|listSecrets|listAccountSas|listServiceSas|AccountKey=/);
    for (const f of allResources(arm)) {
      expect(f.resource.type).not.toBe('Microsoft.KeyVault/vaults/secrets');
    }
  });

  it('parameter files set only parameters main.bicep declares, with safe defaults', () => {
    const azd = JSON.parse(readFileSync(join(REPO_ROOT, 'infra', 'main.parameters.json'), 'utf8'));
    for (const name of Object.keys(azd.parameters)) expect(arm.parameters).toHaveProperty([name]);
    const bicepparam = readFileSync(join(REPO_ROOT, 'infra', 'main.bicepparam'), 'utf8');
    const names = [...bicepparam.matchAll(/^param (\w+)/gm)].map((m) => m[1]!);
    expect(names).toContain('namePrefix');
    for (const name of names) expect(arm.parameters).toHaveProperty([name]);
  });
});

describe('azure monitor alerts', () => {
  const alerts = () => moduleTemplate('alerts');
  const logAlerts = (): any[] => alerts().template.variables.logAlerts;
  const rule = () => one('Microsoft.Insights/scheduledQueryRules').resource;
  const actionGroupsVar =
    "[if(empty(parameters('alertEmail')), createArray(), createArray(resourceId('Microsoft.Insights/actionGroups', format('ag-{0}', parameters('namePrefix')))))]";

  it('alertEmail is optional: empty deploys no action group, and the rules notify nobody', () => {
    expect(arm.parameters.alertEmail).toMatchObject({ type: 'string', defaultValue: '' });
    expect(alerts().deployment.properties.parameters.alertEmail.value).toBe("[parameters('alertEmail')]");
    expect(alerts().template.variables.actionGroups).toBe(actionGroupsVar);
    // azd takes it from the environment; the Azure CLI parameter file leaves it empty.
    const azd = JSON.parse(readFileSync(join(REPO_ROOT, 'infra', 'main.parameters.json'), 'utf8'));
    expect(azd.parameters.alertEmail).toEqual({ value: '${SCANRELAY_ALERT_EMAIL=}' });
    expect(readFileSync(join(REPO_ROOT, 'infra', 'main.bicepparam'), 'utf8')).toMatch(/^param alertEmail = ''$/m);
  });

  it('an action group e-mails the administrator (alertEmail), with the common alert schema', () => {
    const group = one('Microsoft.Insights/actionGroups').resource;
    expect(group.condition).toBe("[not(empty(parameters('alertEmail')))]");
    expect(group.location).toBe('global');
    expect(group.properties.enabled).toBe(true);
    expect(group.properties.groupShortName.length).toBeLessThanOrEqual(12);
    expect(group.properties.emailReceivers).toEqual([
      { name: 'administrator', emailAddress: "[parameters('alertEmail')]", useCommonAlertSchema: true },
    ]);
  });

  it('one log search alert rule per event, each enabled, stateful, on the Application Insights component, with the action group', () => {
    const r = rule();
    expect(r.copy.count).toBe("[length(variables('logAlerts'))]");
    expect(r.kind).toBe('LogAlert');
    expect(r.properties).toMatchObject({
      enabled: true,
      autoMitigate: true,
      scopes: ["[resourceId('Microsoft.Insights/components', parameters('appInsightsName'))]"],
      severity: "[variables('logAlerts')[copyIndex()].severity]",
      evaluationFrequency: "[variables('logAlerts')[copyIndex()].evaluationFrequency]",
      windowSize: "[variables('logAlerts')[copyIndex()].windowSize]",
      actions: { actionGroups: "[variables('actionGroups')]" },
    });
    expect(r.properties.criteria.allOf).toEqual([
      {
        query: "[variables('logAlerts')[copyIndex()].query]",
        timeAggregation: 'Count',
        operator: 'GreaterThan',
        threshold: 0,
        failingPeriods: { numberOfEvaluationPeriods: 1, minFailingPeriodsToAlert: 1 },
      },
    ]);
    // The component is the one monitoring.bicep creates.
    expect(alerts().deployment.properties.parameters.appInsightsName.value).toContain("'monitoring'");
  });

  it('the rules: reauthorization required, the app registration refused, final delivery failure, poisoned message, refreshes failing, a notification not sent', () => {
    const byName = Object.fromEntries(logAlerts().map((a) => [a.name, a]));
    expect(Object.keys(byName).sort()).toEqual([
      'connection-refused',
      'delivery-failed',
      'notification-failed',
      'poisoned-job',
      'reauthorization-required',
      'refresh-failing',
    ]);
    expect(byName['reauthorization-required']).toMatchObject({ severity: 1, evaluationFrequency: 'PT15M', windowSize: 'PT15M' });
    expect(byName['connection-refused']).toMatchObject({ severity: 1, evaluationFrequency: 'PT15M', windowSize: 'PT15M' });
    expect(byName['delivery-failed']).toMatchObject({ severity: 2, evaluationFrequency: 'PT5M', windowSize: 'PT5M' });
    expect(byName['poisoned-job']).toMatchObject({ severity: 2, evaluationFrequency: 'PT15M', windowSize: 'PT15M' });
    expect(byName['notification-failed']).toMatchObject({ severity: 2, evaluationFrequency: 'PT15M', windowSize: 'PT15M' });
    expect(byName['refresh-failing']).toMatchObject({ severity: 2, evaluationFrequency: 'PT30M', windowSize: 'PT1H' });
    for (const a of logAlerts()) {
      expect(a.displayName).toMatch(/^ScanRelay: /);
      expect(a.description.length).toBeGreaterThan(20);
    }
  });

  describe('each rule matches what the code really logs (util.format of the message and its properties)', () => {
    const query = (name: string): string => logAlerts().find((a) => a.name === name)!.query;

    it('connection refused: the line logged once when the app registration is refused (state error)', () => {
      const q = query('connection-refused');
      const call = logCall(messageOf(q));
      expect(call.level).toBe('warn');
      expect(call.file).toBe('shared/oauth/tokens.ts');
      expect(kqlMatches(q, hostMessage(call, { code: 'client_secret_expired' }))).toBe(true);
      expect(kqlMatches(q, hostMessage(logCall('oauth: connection needs reauthorization'), {}))).toBe(false);
    });

    it('reauthorization required: the line logged once when a connection changes state', () => {
      const q = query('reauthorization-required');
      const call = logCall(messageOf(q));
      expect(call.level).toBe('warn');
      expect(call.file).toBe('shared/oauth/tokens.ts');
      expect(
        kqlMatches(
          q,
          hostMessage(call, { reason: 'the identity platform no longer accepts its refresh token (invalid_grant, AADSTS700082).' }),
        ),
      ).toBe(true);
      expect(kqlMatches(q, hostMessage(logCall('oauth: refresh failed; tokens kept, retried later'), {}))).toBe(false);
    });

    it('delivery failed: only the last attempt (final: true), not a retry', () => {
      const q = query('delivery-failed');
      const call = logCall(messageOf(q));
      expect(call.file).toBe('shared/delivery/index.ts');
      expect(call.keys).toEqual(expect.arrayContaining(['permanent', 'final', 'attempt']));
      expect(kqlMatches(q, hostMessage(call, { permanent: true, final: true, attempt: 1 }))).toBe(true);
      expect(kqlMatches(q, hostMessage(call, { permanent: false, final: true, attempt: DELIVERY_MAX_ATTEMPTS }))).toBe(true);
      expect(kqlMatches(q, hostMessage(call, { permanent: false, final: false, attempt: 2 }))).toBe(false);
      // Other "deliver: failed…" lines do not exist: the prefix names this one line.
      expect(logCallsStartingWith('deliver: failed')).toHaveLength(1);
    });

    it('refreshes failing: three consecutive failures or more', () => {
      const q = query('refresh-failing');
      const call = logCall(messageOf(q));
      expect(call.file).toBe('shared/oauth/tokens.ts');
      expect(call.keys).toContain('failures');
      expect(kqlMatches(q, hostMessage(call, { failures: 3 }))).toBe(true);
      expect(kqlMatches(q, hostMessage(call, { failures: 12 }))).toBe(true);
      expect(kqlMatches(q, hostMessage(call, { failures: 2 }))).toBe(false);
    });

    it('notification failed: the line the worker logs when a channel fails for good', () => {
      const q = query('notification-failed');
      const call = logCall(messageOf(q));
      expect(call.level).toBe('warn');
      expect(call.file).toBe('shared/notifications/worker.ts');
      expect(kqlMatches(q, hostMessage(call, { channel: 'it-teams', reason: 'answered 404' }))).toBe(true);
      expect(kqlMatches(q, hostMessage(logCall('notify: an event could not be queued'), {}))).toBe(false);
    });

    it('poisoned job: each run of the function on the poison queue', () => {
      const q = query('poisoned-job');
      expect(q).toContain(`requests\n| where name == "${deliverPoisoned.name}"\n`);
      expect(deliverPoisoned.queueName).toBe(`${DELIVERY_QUEUE}-poison`);
    });
  });

  it('a standard availability test of <baseUrl>/api/health, from five locations, linked to the component', () => {
    const test = one('Microsoft.Insights/webtests').resource;
    expect(test.kind).toBe('standard');
    expect(test.tags).toBe(
      "[union(parameters('tags'), createObject(format('hidden-link:{0}', resourceId('Microsoft.Insights/components', parameters('appInsightsName'))), 'Resource'))]",
    );
    const p = test.properties;
    expect(p).toMatchObject({ Kind: 'standard', Enabled: true, Frequency: 300, RetryEnabled: true, Name: "[variables('healthTestName')]" });
    expect(p.Locations).toHaveLength(5);
    expect(p.Request).toMatchObject({ RequestUrl: "[format('{0}/api/health', parameters('baseUrl'))]", HttpVerb: 'GET' });
    expect(p.ValidationRules).toMatchObject({ ExpectedHttpStatusCode: 200, SSLCheck: true });
    expect(health).toMatchObject({ route: 'health', methods: ['GET'], authLevel: 'anonymous' });
    // The base URL is the app's: the custom domain, or https://<default host name>.
    const baseUrl = alerts().deployment.properties.parameters.baseUrl;
    expect(JSON.stringify(baseUrl)).toContain(
      "format('https://{0}', reference(resourceId('Microsoft.Resources/deployments', 'functionApp')",
    );
    expect(JSON.stringify(baseUrl)).toContain("parameters('publicBaseUrl')");
  });

  it("a metric alert on the test's availability percentage, with the action group", () => {
    const alert = one('Microsoft.Insights/metricAlerts').resource;
    expect(alert.location).toBe('global');
    expect(alert.properties).toMatchObject({
      enabled: true,
      severity: 1,
      evaluationFrequency: 'PT5M',
      windowSize: 'PT15M',
      scopes: ["[resourceId('Microsoft.Insights/components', parameters('appInsightsName'))]"],
    });
    const [criterion] = alert.properties.criteria.allOf;
    expect(alert.properties.criteria['odata.type']).toBe('Microsoft.Azure.Monitor.SingleResourceMultipleMetricCriteria');
    expect(criterion).toMatchObject({
      metricNamespace: 'microsoft.insights/components',
      metricName: 'availabilityResults/availabilityPercentage',
      operator: 'LessThan',
      timeAggregation: 'Average',
      dimensions: [{ name: 'availabilityResult/name', operator: 'Include', values: ["[variables('healthTestName')]"] }],
    });
    expect(alert.properties.copy).toEqual([
      {
        name: 'actions',
        count: "[length(variables('actionGroups'))]",
        input: { actionGroupId: "[variables('actionGroups')[copyIndex('actions')]]" },
      },
    ]);
    expect(alert.dependsOn).toEqual(expect.arrayContaining([expect.stringContaining("Microsoft.Insights/webtests'")]));
  });
});

// ---- The log lines the alert rules match, found in the source, and a small evaluator of the KQL the rules use.

interface LogCall {
  file: string;
  level: 'info' | 'warn' | 'error';
  message: string;
  /** The property names passed with the message (spreads left out). */
  keys: string[];
}

function sourceFiles(dir: string): string[] {
  return readdirSync(join(REPO_ROOT, dir), { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sourceFiles(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
  );
}

let calls: LogCall[] | undefined;
function logCalls(): LogCall[] {
  calls ??= ['shared', 'functions', 'host'].flatMap(sourceFiles).flatMap((file) => {
    const text = readFileSync(join(REPO_ROOT, file), 'utf8');
    return [...text.matchAll(/\blog\.(info|warn|error)\(\s*(['"])((?:(?!\2).)*)\2\s*(?:,\s*\{([^}]*)\})?/g)].map((m) => ({
      file,
      level: m[1] as LogCall['level'],
      message: m[3]!,
      keys: (m[4] ?? '')
        .split(',')
        .map((k) => k.trim())
        .filter((k) => k && !k.startsWith('...'))
        .map((k) => k.split(':')[0]!.trim()),
    }));
  });
  return calls;
}

function logCallsStartingWith(prefix: string): LogCall[] {
  return logCalls().filter((c) => c.message.startsWith(prefix));
}

/** The one log call with exactly this message (renaming the message fails here). */
function logCall(message: string): LogCall {
  const found = logCalls().filter((c) => c.message === message);
  if (found.length !== 1) throw new Error(`expected one log call with the message '${message}', found ${found.length}`);
  return found[0]!;
}

/** The message a rule's `startswith` names. */
function messageOf(query: string): string {
  const m = /\| where message startswith "([^"]+)"/.exec(query);
  if (!m) throw new Error(`no 'where message startswith' in ${query}`);
  return m[1]!;
}

/**
 * The `message` of the trace the host writes: @azure/functions formats the arguments of
 * context.log/warn/error with util.format (InvocationModel), and host/http.ts invocationLogger
 * passes the properties as the second argument. Properties not given get a placeholder value.
 */
function hostMessage(call: LogCall, values: Record<string, unknown>): string {
  const props = Object.fromEntries(call.keys.map((k) => [k, k in values ? values[k] : `<${k}>`]));
  return format(call.message, { ...props, ...values, error: 'Error', message: 'something failed' });
}

/** Evaluates the small subset of KQL the rules use against one trace message; anything else throws. */
function kqlMatches(query: string, message: string): boolean {
  const [table, ...steps] = query.trim().split('\n');
  expect(table).toBe('traces');
  const vars: Record<string, number | null> = {};
  for (const step of steps) {
    let m: RegExpExecArray | null;
    if ((m = /^\| where message startswith "([^"]+)"$/.exec(step))) {
      if (!message.toLowerCase().startsWith(m[1]!.toLowerCase())) return false;
    } else if ((m = /^\| where message contains "([^"]+)"$/.exec(step))) {
      if (!message.toLowerCase().includes(m[1]!.toLowerCase())) return false;
    } else if ((m = /^\| extend (\w+) = toint\(extract\(@"([^"]+)", 1, message\)\)$/.exec(step))) {
      const found = new RegExp(m[2]!).exec(message);
      vars[m[1]!] = found ? Number.parseInt(found[1]!, 10) : null;
    } else if ((m = /^\| where (\w+) >= (\d+)$/.exec(step))) {
      const v = vars[m[1]!];
      if (v === undefined) throw new Error(`unknown column ${m[1]}`);
      if (v === null || v < Number(m[2])) return false;
    } else if (!/^\| project [\w, ]+$/.test(step)) {
      throw new Error(`the test's KQL evaluator does not know: ${step}`);
    }
  }
  return true;
}
