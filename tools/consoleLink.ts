/**
 * `npm run console-link`: a new one-time sign-in link for the console's development sign-in,
 * while `npm start` runs (it writes to the same local storage). Prints the link, nothing else.
 */
import { loadLocalSettings } from '../host/local/settings';
import { developmentSignInLink } from '../host/local/firstRun';
import { getServices } from '../shared/services';

async function main(): Promise<void> {
  loadLocalSettings();
  const env = process.env;
  if (!env.AzureWebJobsStorage && !Object.keys(env).some((k) => k.startsWith('AzureWebJobsStorage__'))) {
    env.AzureWebJobsStorage = 'UseDevelopmentStorage=true';
  }
  const services = getServices();
  const link = await developmentSignInLink(services, `http://localhost:${env.PORT || 7071}`);
  if (!link) {
    console.error('The console does not use the development sign-in here (CONSOLE_SIGN_IN, OAUTH_CLIENT_ID): sign in with Microsoft.');
    process.exit(1);
  }
  console.log(link);
}

main().catch((err: unknown) => {
  console.error(`No link: ${(err as Error)?.message ?? String(err)} (is npm start running?)`);
  process.exit(1);
});
