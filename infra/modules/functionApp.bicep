// The Function App on the Flex Consumption plan: Node.js 22, HTTPS only, TLS 1.2, the user-assigned
// managed identity for storage, Key Vault, Application Insights and Key Vault references.
//
// App settings: every ScanRelay setting of shared/config (test/unit/settings.test.ts compares this
// list with the code and with local.settings.example.json), identity-based host storage
// (AzureWebJobsStorage__*), and Application Insights with Entra ID authentication. No setting holds
// a secret: ScanRelay reads its secrets from Key Vault itself (KEY_VAULT_URL + AZURE_CLIENT_ID).
// A setting that must hold a secret goes in `keyVaultReferences` and becomes a Key Vault reference,
// resolved with the user-assigned identity (keyVaultReferenceIdentity).

@description('Function App name.')
param name string

@description('Flex Consumption plan name.')
param planName string

@description('Azure region.')
param location string

@description('Tags for every resource.')
param tags object

@description('Resource ID of the user-assigned managed identity.')
param identityId string

@description('Client ID of the user-assigned managed identity.')
param identityClientId string

@description('Storage account endpoints (the account has no shared keys).')
param blobServiceUri string
param queueServiceUri string
param tableServiceUri string

@description('Blob container holding the deployment package.')
param deploymentContainerName string

@description('Key Vault URI, e.g. https://name.vault.azure.net/.')
param keyVaultUri string

@description('Name of the Key Vault key that wraps the token data keys (TOKEN_WRAPPING_KEY).')
param tokenWrappingKeyName string

@description('Application Insights connection string (not a secret: local authentication is disabled).')
param appInsightsConnectionString string

@description('Memory of each instance, in MB.')
@allowed([512, 2048, 4096])
param instanceMemoryMB int

@description('Most instances the app scales out to.')
@minValue(1)
@maxValue(1000)
param maximumInstanceCount int

@description('Largest scan request, in bytes: both ScanRelay\'s limit and the Functions host\'s.')
param scanMaxRequestBytes int

@description('Largest single file of a scan request, in bytes (at most scanMaxRequestBytes).')
param scanMaxFileBytes int

@description('The app\'s public base URL (a custom domain); empty: https://<default host name>.')
param publicBaseUrl string

@description('Tenant that connections sign in to (ID, domain or organizations).')
param oauthTenant string

@description('Client ID of the app registration used for connections; empty until it exists.')
param oauthClientId string

@description('Connection types with their own app registration: type (e.g. sharePoint) to client ID.')
param oauthClientIdsByType object

@description('managedIdentity: the identity (AZURE_CLIENT_ID) is the app registration\'s federated credential, no client secret; clientSecret: oauth-client-secret.')
@allowed(['managedIdentity', 'clientSecret'])
param oauthClientCredential string

@description('Extension property carrying the shared secret (e.g. custom_SharedSecret); empty for none.')
// The name of a form field, not a secret (the secret itself is extension-shared-secret in Key Vault).
#disable-next-line secure-secrets-in-params
param scanSharedSecretField string

@description('App settings that hold a secret: setting name to Key Vault secret name.')
param keyVaultReferences object

@description('scim or sync.')
param directorySource string

@description('Directory sync: the group whose transitive members are synced.')
param directorySyncGroupId string

@description('Directory sync: prefix of the group names that are synced.')
param directorySyncGroupPrefix string

@description('The deployed destinations file is in force and the admin API does not change destinations (routing kept in git).')
param destinationsPinned bool

var appSettings = {
  // Functions host storage, identity-based: no connection string, no account key.
  AzureWebJobsStorage__blobServiceUri: blobServiceUri
  AzureWebJobsStorage__queueServiceUri: queueServiceUri
  AzureWebJobsStorage__tableServiceUri: tableServiceUri
  AzureWebJobsStorage__credential: 'managedidentity'
  AzureWebJobsStorage__clientId: identityClientId
  // Application Insights, Entra ID authentication with the same identity.
  APPLICATIONINSIGHTS_CONNECTION_STRING: appInsightsConnectionString
  APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'Authorization=AAD;ClientId=${identityClientId}'
  // The host's own request body limit (100 MB by default) must not cut a request ScanRelay accepts.
  FUNCTIONS_REQUEST_BODY_SIZE_LIMIT: string(scanMaxRequestBytes)
  // ScanRelay (shared/config).
  KEY_VAULT_URL: keyVaultUri
  AZURE_CLIENT_ID: identityClientId
  TOKEN_WRAPPING_KEY: tokenWrappingKeyName
  SCAN_MAX_REQUEST_BYTES: string(scanMaxRequestBytes)
  SCAN_MAX_FILE_BYTES: string(min(scanMaxFileBytes, scanMaxRequestBytes))
  SCAN_MAX_FILES: '20'
  SCAN_MAX_FIELDS: '200'
  SCAN_MAX_FIELD_BYTES: '16384'
  SCAN_SHARED_SECRET_FIELD: scanSharedSecretField
  INGEST_LEASE_SECONDS: '30'
  INGEST_SWEEP_SCHEDULE: '0 */5 * * * *'
  OAUTH_AUTHORITY_HOST: environment().authentication.loginEndpoint
  OAUTH_TENANT: oauthTenant
  OAUTH_CLIENT_ID: oauthClientId
  // With managedIdentity, AZURE_CLIENT_ID's token for api://AzureADTokenExchange is the client assertion.
  OAUTH_CLIENT_CREDENTIAL: oauthClientCredential
  PUBLIC_BASE_URL: publicBaseUrl
  TOKEN_REFRESH_SCHEDULE: '0 0 * * * *'
  TOKEN_REFRESH_MAX_AGE_HOURS: '24'
  // Imported into Table Storage on first start (then managed through the admin API), or, pinned,
  // in force. A named file must exist while it is needed: pinned, or before the first import.
  DESTINATIONS_FILE: 'destinations.json'
  DESTINATIONS_PINNED: destinationsPinned ? 'true' : 'false'
  DELIVERY_LEASE_SECONDS: '60'
  // The app's SharePoint resource units a minute in the tenant: 1,250 fits up to 1,000 licences.
  SHAREPOINT_RESOURCE_UNITS_PER_MINUTE: '1250'
  // Empty: the code's default, the global Microsoft Graph (https://graph.microsoft.com/v1.0).
  GRAPH_BASE_URL: ''
  DIRECTORY_SOURCE: directorySource
  DIRECTORY_SYNC_SCHEDULE: '0 */15 * * * *'
  MAILBOX_READ_SCHEDULE: '0 */5 * * * *'
  MAILBOX_SUBSCRIPTION_SCHEDULE: '0 20 * * * *'
  NOTIFICATION_WATCH_SCHEDULE: '0 */15 * * * *'
  DIRECTORY_SYNC_GROUP_ID: directorySyncGroupId
  DIRECTORY_SYNC_GROUP_PREFIX: directorySyncGroupPrefix
  // The console signs in with Entra ID once OAUTH_CLIENT_ID is set; its tenant is OAUTH_TENANT's.
  CONSOLE_SIGN_IN: ''
  CONSOLE_TENANT: ''
  CONSOLE_SESSION_IDLE_MINUTES: '30'
  CONSOLE_SESSION_MAX_HOURS: '12'
}

var perTypeClientIds = toObject(items(oauthClientIdsByType), t => 'OAUTH_CLIENT_ID_${toUpper(t.key)}', t => t.value)

var secretReferences = toObject(
  items(keyVaultReferences),
  s => s.key,
  s => '@Microsoft.KeyVault(SecretUri=${keyVaultUri}secrets/${s.value}/)'
)

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  name: planName
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    tier: 'FlexConsumption'
    name: 'FC1'
  }
  properties: {
    reserved: true
  }
}

resource site 'Microsoft.Web/sites@2024-04-01' = {
  name: name
  location: location
  // azd deploys the `api` service of azure.yaml to the app with this tag.
  tags: union(tags, { 'azd-service-name': 'api' })
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identityId}': {}
    }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    keyVaultReferenceIdentity: identityId
    siteConfig: {
      minTlsVersion: '1.2'
      scmMinTlsVersion: '1.2'
      ftpsState: 'Disabled'
      http20Enabled: true
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${blobServiceUri}${deploymentContainerName}'
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identityId
          }
        }
      }
      scaleAndConcurrency: {
        instanceMemoryMB: instanceMemoryMB
        maximumInstanceCount: maximumInstanceCount
      }
      runtime: {
        name: 'node'
        version: '22'
      }
    }
  }
}

resource settings 'Microsoft.Web/sites/config@2024-04-01' = {
  parent: site
  name: 'appsettings'
  properties: union(appSettings, perTypeClientIds, secretReferences)
}

// Publishing uses Microsoft Entra ID (azd, func, az): no FTP or SCM basic-auth credentials.
resource ftpBasicAuth 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: site
  name: 'ftp'
  properties: { allow: false }
}

resource scmBasicAuth 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: site
  name: 'scm'
  properties: { allow: false }
}

output name string = site.name
output defaultHostName string = site.properties.defaultHostName
