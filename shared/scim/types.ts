/**
 * The shapes the SCIM service works with: its dependencies, a request as the function trigger
 * hands it over, and the response it gives back. Types only, so that every file of shared/scim can
 * use them without importing index.ts.
 */
import type { DirectoryConfig } from '../config';
import type { Logger } from '../log';
import type { SecretStore } from '../secrets';
import type { Directory } from '../storage';

export interface ScimDeps {
  directory: Directory;
  secrets: SecretStore;
  config: DirectoryConfig;
  log: Logger;
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

export interface ScimResponse {
  status: number;
  body?: Record<string, unknown>;
  headers?: Record<string, string>;
}
