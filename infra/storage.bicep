// The storage ScanRelay uses: scans in Blob Storage, job records in Table Storage, the delivery
// queue. No shared-key access: the app and the Functions host reach it with their identity.
// (The full deployment, main.bicep, comes with the deployment work; this module is its storage.)

@description('Storage account name (3-24 lowercase letters and digits).')
@minLength(3)
@maxLength(24)
param name string

@description('Azure region.')
param location string

resource account 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  name: name
  location: location
  kind: 'StorageV2'
  sku: { name: 'Standard_LRS' }
  properties: {
    allowSharedKeyAccess: false
    allowBlobPublicAccess: false
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    defaultToOAuthAuthentication: true
  }
}

resource blobs 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: account
  name: 'default'
}

// Names match shared/storage (SCAN_CONTAINER, DELIVERY_QUEUE, SCAN_JOBS_TABLE, SCAN_JOB_KEYS_TABLE).
resource scans 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobs
  name: 'scans'
  properties: { publicAccess: 'None' }
}

resource queues 'Microsoft.Storage/storageAccounts/queueServices@2023-05-01' = {
  parent: account
  name: 'default'
}

resource deliveryQueue 'Microsoft.Storage/storageAccounts/queueServices/queues@2023-05-01' = {
  parent: queues
  name: 'scan-delivery'
}

resource tables 'Microsoft.Storage/storageAccounts/tableServices@2023-05-01' = {
  parent: account
  name: 'default'
}

resource jobsTable 'Microsoft.Storage/storageAccounts/tableServices/tables@2023-05-01' = [
  for table in ['scanjobs', 'scanjobkeys']: {
    parent: tables
    name: table
  }
]

output accountName string = account.name
output blobServiceUri string = account.properties.primaryEndpoints.blob
output queueServiceUri string = account.properties.primaryEndpoints.queue
output tableServiceUri string = account.properties.primaryEndpoints.table
