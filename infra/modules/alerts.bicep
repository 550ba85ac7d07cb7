// Azure Monitor for ScanRelay: log search alert rules on the app's own log lines, a standard
// availability test of GET <baseUrl>/api/health with a metric alert, and an action group that
// e-mails the administrator (only when alertEmail is set; without it the rules still fire and
// show in the portal's Alerts page, and notify nobody). See docs/deployment.md, "Alerts".
//
// What the rules match: the Functions host sends context.log/warn/error to Application Insights
// as `traces`, with `message` = util.format(text, properties) (host/http.ts invocationLogger), so
// a line reads `deliver: failed { jobId: '…', destination: '…', permanent: false, final: true, … }`.
// The rules are scoped to the Application Insights component (workspace-based), whose query
// tables are traces/requests. test/unit/infra.test.ts checks that every message matched here is
// one the code really logs.
//
// API shapes:
//   https://learn.microsoft.com/azure/templates/microsoft.insights/scheduledqueryrules
//   https://learn.microsoft.com/azure/templates/microsoft.insights/actiongroups
//   https://learn.microsoft.com/azure/templates/microsoft.insights/webtests
//   https://learn.microsoft.com/azure/templates/microsoft.insights/metricalerts
//   https://learn.microsoft.com/azure/azure-monitor/app/availability-standard-tests

@description('Application Insights component name (the alerts\' scope).')
param appInsightsName string

@description('Name prefix of the alert resources.')
param namePrefix string

@description('Azure region of the log alert rules and the availability test (the component\'s).')
param location string

@description('Tags for every resource.')
param tags object

@description('E-mail address that receives the alerts; empty: no action group, alerts notify nobody.')
param alertEmail string

@description('The app\'s base URL (https://…); the availability test requests <baseUrl>/api/health.')
param baseUrl string

resource appInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: appInsightsName
}

resource actionGroup 'Microsoft.Insights/actionGroups@2023-01-01' = if (!empty(alertEmail)) {
  name: 'ag-${namePrefix}'
  location: 'global'
  tags: tags
  properties: {
    groupShortName: 'ScanRelay'
    enabled: true
    emailReceivers: [
      {
        name: 'administrator'
        emailAddress: alertEmail
        useCommonAlertSchema: true
      }
    ]
  }
}

var actionGroups = empty(alertEmail) ? [] : [actionGroup.id]

// One rule per event. Each counts matching rows over its window and fires when there is at least
// one; autoMitigate makes it stateful: one notification when it fires, none while it stays fired.
var logAlerts = [
  {
    name: 'reauthorization-required'
    displayName: 'ScanRelay: a connection must be authorized again'
    description: 'A connection went to state reauthorization_required (shared/oauth/tokens.ts logs it once, when the state changes): its scans fail until an administrator authorizes it again in the console.'
    severity: 1
    evaluationFrequency: 'PT15M'
    windowSize: 'PT15M'
    query: '''
traces
| where message startswith "oauth: connection needs reauthorization"
| project timestamp, message, operation_Name
'''
  }
  {
    name: 'connection-refused'
    displayName: 'ScanRelay: a connection is refused for the app registration'
    description: 'The identity platform refused a connection for the app registration itself (an invalid or expired client secret, the app missing from the tenant, a redirect URI; shared/oauth/tokens.ts logs it once, when the state changes): authorizing again does not help; fix what the connection says, then refresh it in the console.'
    severity: 1
    evaluationFrequency: 'PT15M'
    windowSize: 'PT15M'
    query: '''
traces
| where message startswith "oauth: connection refused by the identity platform"
| project timestamp, message, operation_Name
'''
  }
  {
    name: 'delivery-failed'
    displayName: 'ScanRelay: a delivery failed for good'
    description: 'A destination of a scan failed with no attempt left (permanent error, or the last of its attempts; shared/delivery logs "deliver: failed" with final: true). Redeliver it with POST /api/scan/<jobId>/redeliver once the cause is fixed.'
    severity: 2
    evaluationFrequency: 'PT5M'
    windowSize: 'PT5M'
    query: '''
traces
| where message startswith "deliver: failed"
| where message contains "final: true"
| project timestamp, message, operation_Name
'''
  }
  {
    name: 'poisoned-job'
    displayName: 'ScanRelay: a delivery message was poisoned'
    description: 'The Functions host gave up on a delivery message and moved it to the poison queue; the deliverPoisoned function ran on it (each run is one poisoned message).'
    severity: 2
    evaluationFrequency: 'PT15M'
    windowSize: 'PT15M'
    query: '''
requests
| where name == "deliverPoisoned"
| project timestamp, name, success, operation_Id
'''
  }
  {
    name: 'notification-failed'
    displayName: 'ScanRelay: a notification could not be sent'
    description: 'A notification channel refused an event or kept failing through every retry (shared/notifications/worker.ts logs "notify: a channel failed for good"): administrators relying on that channel were not told. Check the channel in the console (Notifications, Send a test).'
    severity: 2
    evaluationFrequency: 'PT15M'
    windowSize: 'PT15M'
    query: '''
traces
| where message startswith "notify: a channel failed for good"
| project timestamp, message, operation_Name
'''
  }
  {
    name: 'refresh-failing'
    displayName: 'ScanRelay: token refreshes keep failing'
    description: 'The refreshTokens timer failed to refresh a connection three or more times in a row (shared/oauth/tokens.ts, not a reauthorization: the tokens are kept and retried with back-off).'
    severity: 2
    evaluationFrequency: 'PT30M'
    windowSize: 'PT1H'
    query: '''
traces
| where message startswith "oauth: refresh failed; tokens kept, retried later"
| extend failures = toint(extract(@"failures: (\d+)", 1, message))
| where failures >= 3
| project timestamp, message, failures, operation_Name
'''
  }
]

resource logAlertRules 'Microsoft.Insights/scheduledQueryRules@2023-03-15-preview' = [
  for a in logAlerts: {
    name: 'alert-${namePrefix}-${a.name}'
    location: location
    tags: tags
    kind: 'LogAlert'
    properties: {
      displayName: a.displayName
      description: a.description
      severity: a.severity
      enabled: true
      scopes: [appInsights.id]
      evaluationFrequency: a.evaluationFrequency
      windowSize: a.windowSize
      autoMitigate: true
      criteria: {
        allOf: [
          {
            query: a.query
            timeAggregation: 'Count'
            operator: 'GreaterThan'
            threshold: 0
            failingPeriods: {
              numberOfEvaluationPeriods: 1
              minFailingPeriodsToAlert: 1
            }
          }
        ]
      }
      actions: {
        actionGroups: actionGroups
      }
    }
  }
]

var healthTestName = 'ScanRelay health'

// A standard test needs the hidden-link tag to the component it reports to.
resource healthTest 'Microsoft.Insights/webtests@2022-06-15' = {
  name: 'webtest-${namePrefix}-health'
  location: location
  tags: union(tags, { 'hidden-link:${appInsights.id}': 'Resource' })
  kind: 'standard'
  properties: {
    SyntheticMonitorId: 'webtest-${namePrefix}-health'
    Name: healthTestName
    Description: 'GET /api/health answers 200 (503 names a setting or destinations problem).'
    Enabled: true
    Kind: 'standard'
    Frequency: 300
    Timeout: 30
    RetryEnabled: true
    // Five locations, the number Microsoft recommends for standard tests.
    Locations: [
      { Id: 'emea-nl-ams-azr' }
      { Id: 'emea-gb-db3-azr' }
      { Id: 'us-va-ash-azr' }
      { Id: 'us-ca-sjc-azr' }
      { Id: 'apac-sg-sin-azr' }
    ]
    Request: {
      RequestUrl: '${baseUrl}/api/health'
      HttpVerb: 'GET'
      ParseDependentRequests: false
      FollowRedirects: false
    }
    ValidationRules: {
      ExpectedHttpStatusCode: 200
      SSLCheck: true
      SSLCertRemainingLifetimeCheck: 7
    }
  }
}

resource healthAlert 'Microsoft.Insights/metricAlerts@2018-03-01' = {
  name: 'alert-${namePrefix}-health'
  location: 'global'
  tags: tags
  properties: {
    description: 'GET /api/health failed in more than one test in five over 15 minutes (down, or answering 503).'
    severity: 1
    enabled: true
    scopes: [appInsights.id]
    evaluationFrequency: 'PT5M'
    windowSize: 'PT15M'
    autoMitigate: true
    criteria: {
      'odata.type': 'Microsoft.Azure.Monitor.SingleResourceMultipleMetricCriteria'
      allOf: [
        {
          criterionType: 'StaticThresholdCriterion'
          name: 'availability'
          metricNamespace: 'microsoft.insights/components'
          metricName: 'availabilityResults/availabilityPercentage'
          dimensions: [
            {
              name: 'availabilityResult/name'
              operator: 'Include'
              values: [healthTestName]
            }
          ]
          operator: 'LessThan'
          threshold: 80
          timeAggregation: 'Average'
        }
      ]
    }
    actions: [for id in actionGroups: { actionGroupId: id }]
  }
  dependsOn: [healthTest]
}

@description('Resource ID of the action group; empty when alertEmail is empty.')
output actionGroupId string = empty(alertEmail) ? '' : actionGroup.id
