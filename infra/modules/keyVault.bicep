// The Key Vault holding ScanRelay's secrets (oauth-client-secret, ...) and the RSA key that wraps
// the token data keys (envelope encryption, shared/oauth/envelopeKeys.ts). Azure RBAC
// authorization (no access policies), soft delete and purge protection. The app's identity may
// only read secrets, and use the wrapping key (Key Vault Crypto User on that key alone; the key's
// operations are wrapKey and unwrapKey only, and its private part never leaves Key Vault); an
// operator may be given Key Vault Secrets Officer so that `npm run app-registration` can store the
// client secret.

@description('Key Vault name (3-24 letters, digits and dashes).')
@minLength(3)
@maxLength(24)
param name string

@description('Azure region.')
param location string

@description('Tags for every resource.')
param tags object

@description('Principal ID of the app\'s user-assigned managed identity (gets Key Vault Secrets User).')
param principalId string

@description('Object ID of the person or pipeline that stores secrets (gets Key Vault Secrets Officer on this vault only); empty for none.')
param operatorPrincipalId string

@description('Principal type of operatorPrincipalId.')
@allowed(['User', 'Group', 'ServicePrincipal'])
param operatorPrincipalType string

@description('Name of the RSA key that wraps the token data keys (the app setting TOKEN_WRAPPING_KEY).')
param tokenWrappingKeyName string

@description('A new version of the wrapping key after this long (ISO 8601 duration); rows sealed before stay readable.')
param tokenWrappingKeyRotation string = 'P90D'

@description('Each version of the wrapping key expires this long after it was made (ISO 8601 duration, at least 28 days); it must outlive every value sealed with it, which is re-sealed on its next write.')
param tokenWrappingKeyExpiry string = 'P2Y'

// Built-in roles (https://learn.microsoft.com/azure/role-based-access-control/built-in-roles/security).
var keyVaultSecretsUser = '4633458b-17de-408a-b874-0445c86b69e6'
var keyVaultSecretsOfficer = 'b86a8fe4-44ce-4948-aee5-eccb2c155cd7'
var keyVaultCryptoUser = '12338af0-0e69-4776-bea7-57ae8d297424'

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    tenantId: subscription().tenantId
    sku: { family: 'A', name: 'standard' }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: 90
    enablePurgeProtection: true
    enabledForDeployment: false
    enabledForDiskEncryption: false
    enabledForTemplateDeployment: false
    publicNetworkAccess: 'Enabled'
  }
}

resource appReadsSecrets 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  scope: vault
  name: guid(vault.id, principalId, keyVaultSecretsUser)
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', keyVaultSecretsUser)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

// Made once: a later deployment leaves the key and its versions as they are (the management plane
// creates a key only if it does not exist). Versions come from the rotation policy.
resource tokenWrappingKey 'Microsoft.KeyVault/vaults/keys@2023-07-01' = {
  parent: vault
  name: tokenWrappingKeyName
  tags: tags
  properties: {
    kty: 'RSA'
    keySize: 3072
    keyOps: ['wrapKey', 'unwrapKey']
    attributes: { enabled: true }
    rotationPolicy: {
      attributes: { expiryTime: tokenWrappingKeyExpiry }
      lifetimeActions: [
        {
          trigger: { timeAfterCreate: tokenWrappingKeyRotation }
          action: { type: 'rotate' }
        }
      ]
    }
  }
}

resource appUsesWrappingKey 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  scope: tokenWrappingKey
  name: guid(tokenWrappingKey.id, principalId, keyVaultCryptoUser)
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', keyVaultCryptoUser)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

resource operatorWritesSecrets 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(operatorPrincipalId)) {
  scope: vault
  name: guid(vault.id, operatorPrincipalId, keyVaultSecretsOfficer)
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', keyVaultSecretsOfficer)
    principalId: operatorPrincipalId
    principalType: operatorPrincipalType
  }
}

output name string = vault.name
output vaultUri string = vault.properties.vaultUri
