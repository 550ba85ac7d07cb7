/**
 * `npm run deploy -- <functionAppName> [func options]`: stages the deployment package (stage.ts)
 * and publishes it with Azure Functions Core Tools: `func azure functionapp publish <name>`.
 * The name is the deployment output functionAppName (or SCANRELAY_FUNCTION_APP).
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { stagePackage } from './stage';

const [name = process.env.SCANRELAY_FUNCTION_APP, ...rest] = process.argv.slice(2);
if (!name || name.startsWith('-')) {
  console.error('Usage: npm run deploy -- <functionAppName> [more func azure functionapp publish options]');
  console.error(
    'The name is the deployment output functionAppName (az deployment group show ... --query properties.outputs.functionAppName.value).',
  );
  process.exit(2);
}
const target = stagePackage(join(__dirname, '..', '..', '..'), { install: true, log: console.log });
const result = spawnSync('func', ['azure', 'functionapp', 'publish', name, ...rest], { cwd: target, stdio: 'inherit' });
if (result.error) {
  console.error(`Could not run func (Azure Functions Core Tools v4): ${result.error.message}`);
  process.exit(1);
}
process.exit(result.status ?? 1);
