// ScanRelay in one resource group: a Function App on the Flex Consumption plan with a
// user-assigned managed identity, a Storage account without shared keys, a Key Vault (RBAC, soft
// delete, purge protection), Application Insights on Log Analytics without local authentication,
// the least-privilege role assignments between them, and Azure Monitor alerts (modules/alerts.bicep:
// log search alerts on ScanRelay's log lines, an availability test of /api/health, an action group
// e-mailing alertEmail). See docs/deployment.md.
//
//   az deployment group create -g <group> -f infra/main.bicep -p infra/main.bicepparam
//   azd up   (azure.yaml; parameters from infra/main.parameters.json)

@description('Short name every resource name is built from: 3-11 lowercase letters and digits, starting with a letter.')
@minLength(3)
@maxLength(11)
param namePrefix string

@description('Azure region; it must offer the Flex Consumption plan.')
param location string = resourceGroup().location

@description('Days a stored scan file is kept before the lifecycle rule deletes it.')
@minValue(1)
@maxValue(3650)
param scanRetentionDays int = 30

@description('Memory of each Function App instance, in MB.')
@allowed([512, 2048, 4096])
param instanceMemoryMB int = 2048

@description('Most instances the Function App scales out to.')
@minValue(1)
@maxValue(1000)
param maximumInstanceCount int = 40

@description('Largest scan request in bytes (SCAN_MAX_REQUEST_BYTES and the host\'s FUNCTIONS_REQUEST_BODY_SIZE_LIMIT). The platform front end stops at 210 MB.')
@minValue(1024)
@maxValue(220200960)
param scanMaxRequestBytes int = 104857600

@description('Largest single file of a scan request in bytes (SCAN_MAX_FILE_BYTES; capped at scanMaxRequestBytes).')
@minValue(1)
@maxValue(220200960)
param scanMaxFileBytes int = 104857600

@description('Public base URL when the app is served under a custom domain (https://scan.example.com); empty: the default host name.')
param publicBaseUrl string = ''

@description('Tenant that connections sign in to: a tenant ID, a domain, or organizations. Default: this subscription\'s tenant.')
param oauthTenant string = subscription().tenantId

@description('Client ID of the app registration (npm run app-registration writes it to AppRegistrationInfo.json); empty on the first deployment.')
param oauthClientId string = ''

@description('Connection types with their own app registration: type to client ID, e.g. {"sharePoint": "<guid>"}.')
param oauthClientIdsByType object = {}

@description('How the app proves the app registration\'s identity: managedIdentity (its user-assigned identity through the registration\'s federated identity credential, no client secret; npm run app-registration adds the credential) or clientSecret (the Key Vault secret oauth-client-secret).')
@allowed(['managedIdentity', 'clientSecret'])
param oauthClientCredential string = 'managedIdentity'

@description('Extension property that must carry the shared secret extension-shared-secret (e.g. custom_SharedSecret); empty for none.')
// The name of a form field, not a secret (the secret itself is extension-shared-secret in Key Vault).
#disable-next-line secure-secrets-in-params
param scanSharedSecretField string = ''

@description('App settings that must hold a secret: setting name to Key Vault secret name; each becomes a Key Vault reference.')
param keyVaultReferences object = {}

@description('Where users and groups come from: scim (Entra ID provisions them) or sync (a timer reads them from Microsoft Graph).')
@allowed([
  'scim'
  'sync'
])
param directorySource string = 'scim'

@description('For directory sync: object ID of the Entra group whose transitive user members are synced.')
param directorySyncGroupId string = ''

@description('For directory sync: groups whose display name starts with this are synced (empty: no groups).')
param directorySyncGroupPrefix string = ''

@description('Keep routing in git: the deployed destinations.json is in force and the admin API refuses changes to destinations. False: destinations live in Table Storage (the file is imported on first start).')
param destinationsPinned bool = false

@description('Object ID of whoever stores secrets in the Key Vault (npm run app-registration); gets Key Vault Secrets Officer on the vault. Empty for none.')
param operatorPrincipalId string = ''

@description('Principal type of operatorPrincipalId.')
@allowed(['User', 'Group', 'ServicePrincipal'])
param operatorPrincipalType string = 'User'

@description('Days Log Analytics keeps the logs.')
@minValue(30)
@maxValue(730)
param logRetentionDays int = 30

@description('E-mail address of the administrator who receives the Azure Monitor alerts (reauthorization required, delivery failed, poisoned job, refreshes failing, /api/health down). Empty: the alert rules still fire and show in the portal, but notify nobody.')
param alertEmail string = ''

@description('Tags for every resource.')
param tags object = {}

// Connection types and their redirect paths, from the code (shared/oauth/permissions.ts).
var facts = loadJsonContent('scanrelay.generated.json')

var token = uniqueString(subscription().id, resourceGroup().id, namePrefix)
var names = {
  identity: 'id-${namePrefix}-${token}'
  storage: take('st${namePrefix}${token}', 24)
  keyVault: take('kv-${namePrefix}-${token}', 24)
  workspace: 'log-${namePrefix}-${token}'
  appInsights: 'appi-${namePrefix}-${token}'
  plan: 'plan-${namePrefix}-${token}'
  functionApp: 'func-${namePrefix}-${token}'
}
var deploymentContainerName = 'app-package'
// The Key Vault key that wraps the token data keys (envelope encryption): the vault creates it, the app is told its name.
var tokenWrappingKeyName = 'token-wrapping-key'

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: names.identity
  location: location
  tags: tags
}

module storage 'modules/storage.bicep' = {
  name: 'storage'
  params: {
    name: names.storage
    location: location
    tags: tags
    scanRetentionDays: scanRetentionDays
    deploymentContainerName: deploymentContainerName
    principalId: identity.properties.principalId
  }
}

module monitoring 'modules/monitoring.bicep' = {
  name: 'monitoring'
  params: {
    workspaceName: names.workspace
    appInsightsName: names.appInsights
    location: location
    tags: tags
    logRetentionDays: logRetentionDays
    principalId: identity.properties.principalId
  }
}

module keyVault 'modules/keyVault.bicep' = {
  name: 'keyVault'
  params: {
    name: names.keyVault
    location: location
    tags: tags
    principalId: identity.properties.principalId
    tokenWrappingKeyName: tokenWrappingKeyName
    operatorPrincipalId: operatorPrincipalId
    operatorPrincipalType: operatorPrincipalType
  }
}

module functionApp 'modules/functionApp.bicep' = {
  name: 'functionApp'
  params: {
    name: names.functionApp
    planName: names.plan
    location: location
    tags: tags
    identityId: identity.id
    identityClientId: identity.properties.clientId
    blobServiceUri: storage.outputs.blobServiceUri
    queueServiceUri: storage.outputs.queueServiceUri
    tableServiceUri: storage.outputs.tableServiceUri
    deploymentContainerName: deploymentContainerName
    keyVaultUri: keyVault.outputs.vaultUri
    tokenWrappingKeyName: tokenWrappingKeyName
    appInsightsConnectionString: monitoring.outputs.connectionString
    instanceMemoryMB: instanceMemoryMB
    maximumInstanceCount: maximumInstanceCount
    scanMaxRequestBytes: scanMaxRequestBytes
    scanMaxFileBytes: scanMaxFileBytes
    publicBaseUrl: publicBaseUrl
    oauthTenant: oauthTenant
    oauthClientId: oauthClientId
    oauthClientIdsByType: oauthClientIdsByType
    oauthClientCredential: oauthClientCredential
    scanSharedSecretField: scanSharedSecretField
    keyVaultReferences: keyVaultReferences
    directorySource: directorySource
    directorySyncGroupId: directorySyncGroupId
    directorySyncGroupPrefix: directorySyncGroupPrefix
    destinationsPinned: destinationsPinned
  }
}

var baseUrl = empty(publicBaseUrl) ? 'https://${functionApp.outputs.defaultHostName}' : publicBaseUrl

module alerts 'modules/alerts.bicep' = {
  name: 'alerts'
  params: {
    appInsightsName: monitoring.outputs.appInsightsName
    namePrefix: '${namePrefix}-${token}'
    location: location
    tags: tags
    alertEmail: alertEmail
    baseUrl: baseUrl
  }
}

@description('The app\'s base URL.')
output baseUrl string = baseUrl

@description('The redirect URI to register for each connection type (npm run app-registration registers them all).')
output redirectUris object = toObject(facts.connectionTypes, t => t.type, t => '${baseUrl}${t.redirectPath}')

@description('The redirect URI of the admin console\'s sign-in (npm run app-registration registers it).')
output consoleRedirectUri string = '${baseUrl}${facts.consoleRedirectPath}'

@description('Function App name, for `func azure functionapp publish` (npm run deploy).')
output functionAppName string = functionApp.outputs.name

@description('Key Vault URL, for npm run app-registration (keyVaultUrl).')
output keyVaultUrl string = keyVault.outputs.vaultUri

@description('Storage account name.')
output storageAccountName string = storage.outputs.accountName

@description('Client ID of the app\'s user-assigned managed identity.')
output managedIdentityClientId string = identity.properties.clientId

@description('Object (principal) ID of the app\'s managed identity: managedIdentityObjectId of app-registration.json, the subject of the app registration\'s federated credential.')
output managedIdentityPrincipalId string = identity.properties.principalId

@description('Tenant of this deployment (tenantId of app-registration.json).')
output tenantId string = subscription().tenantId
