/**
 * Timer: directory sync, the pull alternative to SCIM provisioning (DIRECTORY_SOURCE=sync). Reads
 * the configured group's members and the prefixed groups from Microsoft Graph with the app's own
 * permissions and writes them to the directory (see shared/directorySync).
 */
import { runDirectorySync } from '../shared/directorySync';
import { describeError } from '../shared/log';
import { getServices } from '../shared/services';
import type { TimerFunction } from '../host/definitions';
import { invocationLogger } from '../host/http';

/** With SCIM chosen, the timer still fires: say so once per process, not every quarter of an hour. */
let toldSkipped = false;

export const directorySync: TimerFunction = {
  kind: 'timer',
  name: 'directorySync',
  // An app-setting expression: DIRECTORY_SYNC_SCHEDULE (default every 15 minutes; see README).
  schedule: '%DIRECTORY_SYNC_SCHEDULE%',
  handler: async (_timer, context) => {
    const log = invocationLogger(context);
    const deps = getServices().directorySyncDeps(log);
    try {
      const result = await runDirectorySync(deps);
      if (result.status === 'skipped') {
        if (!toldSkipped) log.info(`directorySync: ${result.reason}`);
        toldSkipped = true;
        return;
      }
      toldSkipped = false;
      log.info(`directorySync: ${result.status}`, { ...result });
    } catch (err) {
      // A DirectorySyncError says what an administrator must do (permissions, group id, app registration).
      log.error('directorySync: failed', describeError(err));
      throw err;
    }
  },
};
