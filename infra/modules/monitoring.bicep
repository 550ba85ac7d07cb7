// Application Insights on a Log Analytics workspace. Local (instrumentation key) authentication is
// off: telemetry is accepted only from Microsoft Entra identities with Monitoring Metrics Publisher,
// which the app's managed identity gets here.

@description('Log Analytics workspace name.')
param workspaceName string

@description('Application Insights component name.')
param appInsightsName string

@description('Azure region.')
param location string

@description('Tags for every resource.')
param tags object

@description('Days Log Analytics keeps the logs.')
@minValue(30)
@maxValue(730)
param logRetentionDays int

@description('Principal ID of the app\'s user-assigned managed identity.')
param principalId string

// Monitoring Metrics Publisher (https://learn.microsoft.com/azure/role-based-access-control/built-in-roles/monitor).
var monitoringMetricsPublisher = '3913510d-42f4-4e42-8a64-420c390055eb'

resource workspace 'Microsoft.OperationalInsights/workspaces@2023-09-01' = {
  name: workspaceName
  location: location
  tags: tags
  properties: {
    sku: { name: 'PerGB2018' }
    retentionInDays: logRetentionDays
  }
}

resource appInsights 'Microsoft.Insights/components@2020-02-02' = {
  name: appInsightsName
  location: location
  tags: tags
  kind: 'web'
  properties: {
    Application_Type: 'web'
    WorkspaceResourceId: workspace.id
    DisableLocalAuth: true
    IngestionMode: 'LogAnalytics'
  }
}

resource publisher 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  scope: appInsights
  name: guid(appInsights.id, principalId, monitoringMetricsPublisher)
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', monitoringMetricsPublisher)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

// Not a secret: with local authentication disabled the connection string only names where to send.
output connectionString string = appInsights.properties.ConnectionString

@description('Application Insights component name (the scope of the alerts).')
output appInsightsName string = appInsights.name
