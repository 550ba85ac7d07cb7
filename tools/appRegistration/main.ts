/**
 * `npm run app-registration -- --config app-registration.json [--dry-run]`: the app registration
 * ScanRelay's connections use, created or updated through Microsoft Graph after an interactive
 * (browser), device-code or Azure CLI sign-in. See run.ts for what it does and docs/deployment.md.
 */
import { writeFileSync } from 'node:fs';
import {
  AzureCliCredential,
  DeviceCodeCredential,
  InteractiveBrowserCredential,
  type AccessToken,
  type TokenCredential,
} from '@azure/identity';
import { SecretClient, type SecretClientOptions } from '@azure/keyvault-secrets';
import { GraphClient, GraphError } from '../../shared/graph';
import { parseArgs, USAGE, UsageError, type AppRegistrationOptions } from './options';
import { runAppRegistration } from './run';

export interface MainIo {
  env: NodeJS.ProcessEnv;
  stdout: (line: string) => void;
  stderr: (line: string) => void;
  /** Extra SecretClient options (tests add a recording policy). */
  secretClientOptions?: SecretClientOptions;
  /** Waits between retries (tests make them instant). */
  sleep?: (ms: number) => Promise<void>;
}

/** A fixed bearer token from an environment variable, for every audience (tests and automation). */
class EnvTokenCredential implements TokenCredential {
  constructor(
    private readonly name: string,
    private readonly env: NodeJS.ProcessEnv,
  ) {}
  getToken(): Promise<AccessToken> {
    const token = this.env[this.name];
    if (!token) return Promise.reject(new Error(`Environment variable ${this.name} (--access-token-env) is empty.`));
    return Promise.resolve({ token, expiresOnTimestamp: Date.now() + 3600_000 });
  }
}

function credentialFor(options: AppRegistrationOptions, io: MainIo): TokenCredential {
  switch (options.auth) {
    case 'token-env':
      return new EnvTokenCredential(options.accessTokenEnv!, io.env);
    case 'azure-cli':
      return new AzureCliCredential({ tenantId: options.tenantId });
    case 'device-code':
      return new DeviceCodeCredential({
        tenantId: options.tenantId,
        ...(options.signInClientId ? { clientId: options.signInClientId } : {}),
        userPromptCallback: (info) => io.stderr(info.message),
      });
    default:
      return new InteractiveBrowserCredential({
        tenantId: options.tenantId,
        redirectUri: 'http://localhost',
        ...(options.signInClientId ? { clientId: options.signInClientId } : {}),
      });
  }
}

/**
 * The one Graph client (shared/graph: Retry-After waited up to 60 s, four times a request) with
 * the signed-in credential's tokens for the Graph host (https://graph.microsoft.com/.default, or a
 * national cloud's).
 */
function graphClient(options: AppRegistrationOptions, credential: TokenCredential, io: MainIo): GraphClient {
  const scope = `${new URL(options.graphBaseUrl).origin}/.default`;
  return new GraphClient({
    baseUrl: options.graphBaseUrl,
    token: async () => {
      const token = await credential.getToken(scope);
      if (!token) throw new Error(`No access token for ${scope}.`);
      return token.token;
    },
    sleep: io.sleep,
  });
}

function secretClient(options: AppRegistrationOptions, credential: TokenCredential, io: MainIo): SecretClient {
  const host = new URL(options.keyVaultUrl).hostname;
  return new SecretClient(options.keyVaultUrl, credential, {
    // The SDK checks that the vault's host is under the resource the challenge names
    // (vault.azure.net). A local test vault (https://localhost:<port>) cannot be: only for a
    // loopback vault is the check off.
    ...(host === 'localhost' || host === '127.0.0.1' ? { disableChallengeResourceVerification: true } : {}),
    ...io.secretClientOptions,
  });
}

/** Runs the tool; returns the process exit code. */
export async function main(argv: string[], io: MainIo): Promise<number> {
  let options: AppRegistrationOptions;
  try {
    const parsed = parseArgs(argv, io.env);
    if (parsed === 'help') {
      io.stdout(USAGE);
      return 0;
    }
    options = parsed;
  } catch (err) {
    if (err instanceof UsageError) {
      io.stderr(`app-registration: ${err.message}`);
      io.stderr('Run with --help for the options.');
      return 2;
    }
    throw err;
  }
  const credential = credentialFor(options, io);
  try {
    await runAppRegistration(options, {
      graph: graphClient(options, credential, io),
      secrets: secretClient(options, credential, io),
      out: io.stdout,
      writeFile: (path, text) => writeFileSync(path, text, { mode: 0o644 }),
      sleep: io.sleep,
    });
    return 0;
  } catch (err) {
    // A Graph refusal also names Graph's request id, which Microsoft support asks for.
    const requestId = err instanceof GraphError && err.requestId ? ` (request-id ${err.requestId})` : '';
    io.stderr(`app-registration failed: ${(err as Error).message}${requestId}`);
    return 1;
  }
}

if (require.main === module) {
  main(process.argv.slice(2), {
    env: process.env,
    stdout: (line) => console.log(line),
    stderr: (line) => console.error(line),
  }).then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      console.error(err);
      process.exitCode = 1;
    },
  );
}
