/**
 * The codes of the destinations and routing admin API (shared/destinations): editing the stored
 * destinations, their versions, the import of the file, test routing and a test delivery.
 * catalog.ts spreads them in at their place, which docs/errors.md follows.
 */
import type { ErrorEntry } from './catalog';

export const DESTINATION_ERRORS = {
  validation_failed: {
    kinds: ['request'],
    status: 400,
    meaning:
      'The destination (or the set of destinations) is not valid, and nothing was saved: `fields` lists each problem as `{ "path": "options.auth.port", "message": "must be a port number (1-65535)." }`.',
    action: 'Fix each field the answer names and send it again.',
  },
  destination_exists: {
    kinds: ['request'],
    status: 409,
    meaning: 'A destination with this id exists already.',
    action: 'Choose another id, or change the existing destination with PUT /api/destinations/{id}.',
  },
  if_match_required: {
    kinds: ['request'],
    status: 428,
    meaning:
      'A change to a destination needs an If-Match header: the ETag you read it with, so that a change made meanwhile is not overwritten.',
    action: 'Read the destination (GET /api/destinations/{id}), and send its ETag as If-Match (or `*` to change whatever is there).',
  },
  destination_changed: {
    kinds: ['request'],
    status: 412,
    meaning:
      'The destination (or the set, for an import or a restore) was changed by someone else since you read it; your change was not saved.',
    action: 'Read it again, make your change on what is there now, and send it with the new ETag.',
  },
  destinations_pinned: {
    kinds: ['request'],
    status: 409,
    meaning: 'The destinations are pinned to the deployed file (DESTINATIONS_PINNED=true), so they cannot be changed through the API.',
    action:
      'Change the file in its repository and deploy it; or set DESTINATIONS_PINNED=false to manage them here (the file is imported then).',
  },
  version_not_found: {
    kinds: ['request'],
    status: 404,
    meaning: 'There is no stored version of the destinations with this number.',
    action: 'Use a version that GET /api/destinations/versions lists.',
  },
  destinations_too_large: {
    kinds: ['request'],
    status: 413,
    meaning: 'The destinations together would be larger than one stored version holds (300,000 characters of JSON).',
    action: 'Remove destinations that are no longer used, or move long CA certificates into the secret store (tls.caSecret).',
  },
  browse_failed: {
    kinds: ['request'],
    status: 502,
    meaning:
      'Microsoft Graph did not list the site, library or folder as the connection: the message says why (the connection must be authorized again, the account has no access, the site or folder does not exist, Graph did not answer).',
    action: 'Do what the message says (authorize the connection again, check the URL or the folder), then browse again.',
  },
  destinations_file_not_found: {
    kinds: ['request'],
    status: 404,
    meaning: 'An import without a body imports the deployed destinations file, and there is none.',
    action: 'Deploy the file (DESTINATIONS_FILE, or destinations.json), or send the destinations as the JSON body.',
  },
} as const satisfies Record<string, ErrorEntry>;
