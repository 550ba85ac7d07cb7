/** In-memory DeliveryFiles for connector tests: streamed in pieces (as from Blob Storage), opens counted. */
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import type { DeliveryFile } from '../../shared/delivery';

export const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** A file whose content is served in `pieceBytes` pieces, so that a connector really streams it. */
export function memoryFile(content: Buffer, name = 'scan.pdf', contentType = 'application/pdf', pieceBytes = 64 * 1024): DeliveryFile & { opened: number } {
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
