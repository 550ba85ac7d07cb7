import { isScimError, type ScimError } from '../../shared/scim/errors';

/** The ScimError `fn` throws; fails the test when it throws something else or nothing. */
export function scimError(fn: () => unknown): ScimError {
  try {
    fn();
  } catch (e) {
    if (isScimError(e)) return e;
    throw new Error(`expected a ScimError, got ${String(e)}`, { cause: e });
  }
  throw new Error('expected a ScimError, nothing was thrown');
}
