/**
 * The destinations and their routing rules as an administrator manages them: stored in Table
 * Storage, every change a new version (who, when, and in the audit log what before and after),
 * ETag-guarded, validated as a whole; restored from an old version; imported from the deployed
 * file (on first start, or on request); or pinned to that file (DESTINATIONS_PINNED) for teams
 * that keep routing in git. The deliverer reads the version in force for every job (current.ts).
 * The JSON admin API (functions/destination*.ts) and the console call these operations, each
 * with the actor on whose behalf it runs.
 */
export {
  createDestinationsSource,
  FIRST_START,
  type DestinationsProblem,
  type DestinationsSource,
  type DestinationsSourceDeps,
} from './current';
export { destinationEtag, parseIfMatch, versionEtag, MAX_DOCUMENT_CHARS, type DestinationView } from './document';
export {
  createDestination,
  deleteDestination,
  importDestinations,
  replaceDestination,
  restoreVersion,
  setDestinationEnabled,
  type ChangeResult,
} from './edit';
export { browseTarget, readBrowseInput, type BrowseDeps, type BrowseInput, type BrowseResult } from './browse';
export { createLocalDestination, LOCAL_DESTINATION_ID } from './localDefault';
export { getDestination, getVersion, listDestinations, listVersions, type DestinationsView } from './read';
export { sendTest, testRouting, type RoutingTestResult, type SendTestDeps, type SendTestResult, type TryOutDeps } from './tryOut';
