/** Connection ids: what they may be, checked before an id from a request reaches storage. */
import { BadRequestError } from '../errors';

const ID = /^[a-z0-9][a-z0-9-]{0,62}$/;

export function isConnectionId(id: string): boolean {
  return ID.test(id);
}

/**
 * Checks a connection id from a request before anything else touches it: a malformed one (a slash,
 * '#', '?', upper case, too long...) names no connection and is refused with a 400, never passed
 * to storage (where '/' or '#' in a key makes Table Storage fail, after its retries, with a 500).
 */
export function checkConnectionId(id: string): string {
  if (!ID.test(id)) {
    const shown = (id.length > 40 ? `${id.slice(0, 40)}…` : id).replace(/[^\x20-\x7e…]/g, '?');
    throw new BadRequestError(
      'invalid_id',
      `'${shown}' is not a connection id: connection ids are 1 to 63 lowercase letters, digits and dashes.`,
    );
  }
  return id;
}
