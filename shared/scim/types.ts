/**
 * The shapes the SCIM service works with: its dependencies, a request as the function trigger
 * hands it over, and the response it gives back. Types only, so that every file of shared/scim can
 * use them without importing index.ts.
 */
import type { DirectoryConfig } from '../config';
import type { Logger } from '../log';
import type { SecretStore } from '../secrets';
import type { Directory } from '../storage';
import type { ScimActivity } from './activity';

export interface ScimDeps {
  directory: Directory;
  secrets: SecretStore;
  config: DirectoryConfig;
  log: Logger;
  /** Records each answered request for the console's Directory page (one per process: it throttles). */
  activity: Pick<ScimActivity, 'record'>;
}

export interface ScimRequest {
  method: string;
  /** The path below /scim/v2, e.g. `/Users/2819c223-7f76-453a-919d-413861904646`. */
  path: string;
  query: URLSearchParams;
  headers: { authorization?: string | null; ifMatch?: string | null; contentType?: string | null };
  /** The body, read with the size limit already enforced (undefined for none). */
  body?: string;
  /** The absolute URL of /scim/v2 as the client sees it (for meta.location). */
  baseUrl: string;
}

/**
 * A request as the function trigger hands it over: the body is read (with its size limit) only
 * once the token is checked.
 */
export interface IncomingScimRequest extends Omit<ScimRequest, 'body'> {
  readBody: () => Promise<string | undefined>;
  /** Named in the detail of a 500, so that an administrator can find the log lines. */
  invocationId: string;
}

export interface ScimResponse {
  status: number;
  body?: Record<string, unknown>;
  headers?: Record<string, string>;
}
