// Parameters for `az deployment group create -g <group> -f infra/main.bicep -p infra/main.bicepparam`.
// Safe defaults; edit the values (or add `-p name=value` after this file) before deploying.
// azd reads infra/main.parameters.json instead.
using 'main.bicep'

// 3-11 lowercase letters and digits; every resource name is derived from it.
param namePrefix = 'scanrelay'

// Days a stored scan file is kept in Blob Storage.
param scanRetentionDays = 30

// Memory of each instance (512, 2048 or 4096 MB) and the most instances.
param instanceMemoryMB = 2048
param maximumInstanceCount = 40

// The client ID from AppRegistrationInfo.json, once `npm run app-registration` has run.
param oauthClientId = ''

// Your object ID (az ad signed-in-user show --query id -o tsv), to store the client secret in Key Vault.
param operatorPrincipalId = ''

// Who receives the Azure Monitor alerts (docs/deployment.md, "Alerts"). Empty: the rules still fire
// and show in the portal's Alerts page, but e-mail nobody.
param alertEmail = ''
