/** In-memory DeliveryFiles for connector tests: streamed in pieces (as from Blob Storage), opens counted. */
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import type { DeliveryContext, DeliveryFile } from '../../shared/delivery';
import { silentLogger } from '../../shared/log';

export const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** A file whose content is served in `pieceBytes` pieces, so that a connector really streams it. */
export function memoryFile(
  content: Buffer,
  name = 'scan.pdf',
  contentType = 'application/pdf',
  pieceBytes = 64 * 1024,
): DeliveryFile & { opened: number } {
  const file = {
    name,
    contentType,
    size: content.length,
    sha256: sha256(content),
    opened: 0,
    async open() {
      file.opened++;
      return Readable.from(
        (function* () {
          for (let i = 0; i < content.length; i += pieceBytes) yield content.subarray(i, i + pieceBytes);
        })(),
      );
    },
  };
  return file;
}

/**
 * A DeliveryContext for connector tests: no OAuth, no app-only tokens, Graph unreachable, and
 * the given secrets (`read` records which were asked for); `overrides` replaces any part.
 */
export function testContext(
  secrets: Record<string, string> = {},
  overrides: Partial<DeliveryContext> = {},
): { ctx: DeliveryContext; read: string[] } {
  const read: string[] = [];
  const ctx: DeliveryContext = {
    getAccessToken: async () => {
      throw new Error('no OAuth here');
    },
    getApplicationToken: async () => {
      throw new Error('no app-only tokens here');
    },
    graphBaseUrl: 'https://graph.invalid/v1.0',
    getSecret: async (name) => {
      read.push(name);
      if (Object.hasOwn(secrets, name)) return secrets[name]!;
      throw new Error(`no secret ${name}`);
    },
    log: silentLogger,
    ...overrides,
  };
  return { ctx, read };
}
