/** What every delivery connector is given and returns. */
import type { Readable } from 'node:stream';
import type { z } from 'zod';
import type { DeliveryErrorCode } from '../errors';
import type { Logger } from '../log';
import type { Charge } from './pacing';

export interface DeliveryFile {
  /** The sender's file name (untrusted: escape it for where it lands). */
  name: string;
  contentType: string;
  size: number;
  sha256: string;
  /** Opens the stored file for streaming; call once per use. */
  open(): Promise<Readable>;
}

export interface DeliveryJob {
  jobId: string;
  receivedAt: Date;
  /** Every scan variable the printer sent. */
  fields: Readonly<Record<string, string>>;
  files: readonly DeliveryFile[];
}

export interface DeliveryContext {
  /** An access token for a connection (see shared/oauth), refreshed when needed or when `forceRefresh`. */
  getAccessToken(connectionId: string, options?: { scopes?: string[]; forceRefresh?: boolean }): Promise<string>;
  /** An app-only token of the app registration for `resource` (client credentials; application permissions). */
  getApplicationToken(resource: string, options?: { forceRefresh?: boolean }): Promise<string>;
  /** Microsoft Graph's endpoint with its version, e.g. https://graph.microsoft.com/v1.0 (GRAPH_BASE_URL). */
  graphBaseUrl: string;
  /** Reads a secret from the secret store. */
  getSecret(name: string): Promise<string>;
  log: Logger;
}

export interface DeliveryResult {
  /** The remote identifier: message id, item id, path, URL... */
  remoteId?: string;
}

/** One template of a destination rendered for a job, or why it cannot be (test routing: nothing is sent). */
export interface TemplatePreview {
  /** The option, by its path: `subject`, `to`, `extraFields.to`, `fileName`. */
  option: string;
  template: string;
  /** The file a file name is for (1, 2, …). */
  file?: number;
  rendered?: string;
  /** Why it cannot be rendered for this job: the code and reason the delivery would fail with. */
  error?: { code: DeliveryErrorCode; message: string };
}

/** A connector: parses its destination options once at start-up, then delivers jobs. */
export interface Connector<Options = unknown> {
  type: string;
  /** The destination options: validated and filled in by it, and described by it in docs/destinations.md. */
  optionsSchema: z.ZodType<Options>;
  /** The schema's parse (shared/delivery/options.ts); throws an OptionsError naming the bad option. */
  parseOptions(raw: unknown): Options;
  deliver(job: DeliveryJob, options: Options, context: DeliveryContext): Promise<DeliveryResult>;
  /** Every template of the options rendered for the job, each as delivery would, sending nothing (see preview.ts). */
  preview?(job: DeliveryJob, options: Options): TemplatePreview[];
  /**
   * What the delivery spends of Microsoft 365's budgets (pacing.ts): the messages of the mailbox
   * it sends from, the bytes it uploads to it, SharePoint's resource units. Empty when no such
   * limit applies (or the target cannot be rendered: the delivery then fails saying why).
   */
  pace?(job: DeliveryJob, options: Options): Charge[];
}

/**
 * Retrying cannot help (bad address, refused content, missing variable): fail the destination
 * now. `code` (shared/errors/catalog.ts) is recorded on the delivery and shown by
 * GET /api/scan/{jobId}; the message says the rest, for a person.
 */
export class PermanentDeliveryError extends Error {
  constructor(
    readonly code: DeliveryErrorCode,
    message: string,
    /** `cause`: the error behind it (a GraphError, whose status a connector may look at). */
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = 'PermanentDeliveryError';
  }
}

/** Worth retrying later (network, 5xx, throttling); `code` as for PermanentDeliveryError. */
export class TransientDeliveryError extends Error {
  constructor(
    readonly code: DeliveryErrorCode,
    message: string,
    readonly retryAfterSeconds?: number,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = 'TransientDeliveryError';
  }
}
