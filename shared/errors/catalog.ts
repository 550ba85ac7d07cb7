/**
 * Every code ScanRelay answers with, records on a delivery or shows on a connection, in one
 * place: what it means and what to do. Printer vendors and scripts may rely on these codes; the
 * messages beside them are for people and may change. docs/errors.md is generated from this list
 * (`npm run docs`; a test fails when it is stale).
 *
 * - `request`: the `error` of an HTTP answer `{ "error": <code>, "message": <what to do> }`, with
 *   its HTTP status.
 * - `delivery`: the `code` of a destination's outcome in `GET /api/scan/{jobId}` (why it failed,
 *   or why it is being retried).
 * - `job`: the job's delivery state in `GET /api/scan/{jobId}` (`delivery.state`).
 * - `connection`: a connection's `state` in `GET /api/connections`, or its `errorCode` (why the
 *   identity platform refused it: AADSTS codes, shared/oauth/entraErrors.ts).
 * - `mailbox`: why a mailbox source rejected a message, or cannot read its mailbox.
 */
import { DESTINATION_ERRORS } from './destinationCodes';
import { INGEST_ERRORS } from './ingestCodes';
import { MAILBOX_ERRORS } from './mailboxCodes';
import { NOTIFICATION_ERRORS } from './notificationCodes';

export type ErrorKind = 'request' | 'delivery' | 'job' | 'connection' | 'mailbox';

export interface ErrorEntry {
  kinds: readonly ErrorKind[];
  /** The HTTP status of an answer carrying it (request codes). */
  status?: number;
  /** A retry may succeed: the answer carries Retry-After, the delivery is retried. */
  retryable?: boolean;
  meaning: string;
  action: string;
}

export const ERRORS = {
  ...INGEST_ERRORS,

  // --- Credentials and request bodies of the admin API -------------------------------------
  unauthorized: {
    kinds: ['request'],
    status: 401,
    meaning: 'A credential is missing or wrong: the shared secret field, or the admin key of an admin endpoint.',
    action: 'Send the right secret (the message says which).',
  },
  session_expired: {
    kinds: ['request'],
    status: 401,
    meaning:
      'The console session ended: signed out, idle for longer than CONSOLE_SESSION_IDLE_MINUTES, or older than CONSOLE_SESSION_MAX_HOURS.',
    action: 'Sign in to the console again.',
  },
  forbidden: {
    kinds: ['request'],
    status: 403,
    meaning: 'Signed in, but without the app role this needs: ScanRelay.Reader to look, ScanRelay.Admin to change anything.',
    action:
      'Ask an administrator of the tenant to assign the role (Entra admin center → Enterprise applications → ScanRelay → Users and groups).',
  },
  csrf_refused: {
    kinds: ['request'],
    status: 403,
    meaning:
      "A change sent with the console's session cookie but not from the console: its CSRF token is missing or wrong, or its Origin is another site's.",
    action:
      "Make the change from the console's own page (reload it first); scripts use the admin key (x-functions-key) instead of the cookie.",
  },
  body_too_large: {
    kinds: ['request'],
    status: 413,
    meaning: 'A JSON or text body is larger than the endpoint accepts.',
    action: 'Send a smaller body.',
  },
  invalid_query: {
    kinds: ['request'],
    status: 400,
    meaning: 'A query parameter of a list or search is not valid (a date, a number, a value too long).',
    action: 'Fix the parameter the message names.',
  },
  invalid_json: {
    kinds: ['request'],
    status: 400,
    meaning: 'The body is not valid JSON.',
    action: 'Send valid JSON.',
  },

  // --- Jobs: status and redelivery -----------------------------------------------------------
  job_not_found: {
    kinds: ['request'],
    status: 404,
    meaning: 'There is no scan job with this id.',
    action: 'Use the jobId that POST /api/scan answered.',
  },
  job_not_stored: {
    kinds: ['request'],
    status: 409,
    retryable: true,
    meaning: 'The job is still being stored.',
    action: 'Try again in a moment.',
  },
  invalid_time_range: {
    kinds: ['request'],
    status: 400,
    meaning:
      '`from` or `to` of GET /api/jobs is not an ISO 8601 date (2026-12-01) or time (2026-12-01T08:00:00Z, with Z or an offset), or `from` is after `to`.',
    action: 'Give both as ISO 8601 in UTC or with an offset, `from` not after `to`; a date alone means its whole UTC day.',
  },
  invalid_status: {
    kinds: ['request'],
    status: 400,
    meaning:
      '`status` of GET /api/jobs names no job status (stored, pending, abandoned) nor delivery state (the `job` codes below), or combines pending with others.',
    action: 'Use the statuses the message lists, comma-separated; ask for pending on its own.',
  },
  invalid_filter: {
    kinds: ['request'],
    status: 400,
    meaning: 'A search field of GET /api/jobs (workflowName, username, deviceName, scanJobID) is too long, or is only `*`.',
    action: 'Give at most 256 characters (1,024 for scanJobID); a trailing `*` matches the start of the value.',
  },
  invalid_limit: {
    kinds: ['request'],
    status: 400,
    meaning: '`limit` of GET /api/jobs is not a whole number from 1 to 200.',
    action: 'Give a limit from 1 to 200 (default 50).',
  },
  invalid_continuation: {
    kinds: ['request'],
    status: 400,
    meaning: '`continuation` of GET /api/jobs is not a token a previous page answered.',
    action: 'Pass the `continuation` of the previous answer as it was, or leave it out for the first page.',
  },
  invalid_file_index: {
    kinds: ['request'],
    status: 400,
    meaning: 'The file index of GET /api/jobs/{jobId}/files/{index} is not a whole number.',
    action: "Use a file's `index` from GET /api/jobs/{jobId}.",
  },
  file_not_found: {
    kinds: ['request'],
    status: 404,
    meaning: 'The job has no file with this index.',
    action: "Use a file's `index` from GET /api/jobs/{jobId} (the first file is 0).",
  },
  file_gone: {
    kinds: ['request'],
    status: 410,
    meaning: "The job's file is no longer stored (the scans container's retention rule deletes files after scanRetentionDays).",
    action: 'None: the job record stays, its files do not.',
  },
  invalid_destination: {
    kinds: ['request'],
    status: 400,
    meaning: '"destination" is not a destination id.',
    action: 'Give the id of a destination (GET /api/destinations lists them).',
  },
  destination_not_found: {
    kinds: ['request'],
    status: 404,
    meaning: 'There is no destination with this id.',
    action: 'Use an id that GET /api/destinations lists.',
  },
  destination_not_selected: {
    kinds: ['request'],
    status: 409,
    meaning: "The destination's `when` rule does not select this job, so it cannot be delivered there.",
    action: 'Change the rule first (PUT /api/destinations/{id}; with DESTINATIONS_PINNED, in the file, deployed), then redeliver.',
  },
  nothing_to_redeliver: {
    kinds: ['request'],
    status: 409,
    meaning: 'Every destination the job goes to is delivered or being delivered; nothing is sent twice.',
    action: 'None; follow the job with GET /api/scan/{jobId}.',
  },
  destinations_invalid: {
    kinds: ['request'],
    status: 503,
    meaning:
      'The destinations in force cannot be used: the deployed file is missing or invalid (pinned, or still to be imported), or the stored version is not valid for this version of ScanRelay.',
    action:
      'Fix what the message names: DESTINATIONS_FILE (deploy it fixed), or the stored destinations (PUT /api/destinations/{id}, or restore a version); GET /api/health says the same.',
  },

  ...DESTINATION_ERRORS,

  // --- Connections (the admin API) -----------------------------------------------------------
  connection_not_found: {
    kinds: ['request', 'delivery'],
    status: 404,
    meaning: 'There is no connection with this id (a destination names a connection that does not exist).',
    action: 'Create the connection (POST /api/connections), or fix the id in the destination.',
  },
  reauthorization_required: {
    kinds: ['request', 'delivery', 'connection'],
    status: 409,
    meaning: "The connection's authorization is gone (revoked, expired, consent withdrawn, or never given).",
    action: "An administrator opens the connection's Authorize link and signs in again; then redeliver failed jobs.",
  },
  refresh_failed: {
    kinds: ['request'],
    status: 503,
    retryable: true,
    meaning: 'The identity platform did not complete a refresh; the tokens are kept.',
    action: 'Try again later; the refresh timer retries too.',
  },
  invalid_type: {
    kinds: ['request'],
    status: 400,
    meaning: '"type" is not a connection type.',
    action: 'Use one of the types the message lists.',
  },
  invalid_display_name: {
    kinds: ['request'],
    status: 400,
    meaning: '"displayName" is empty or longer than 64 characters.',
    action: 'Give a name of 1 to 64 characters.',
  },
  invalid_id: {
    kinds: ['request'],
    status: 400,
    meaning: 'A connection id is not 1 to 63 lowercase letters, digits and dashes.',
    action: 'Use such an id.',
  },
  invalid_tenant: {
    kinds: ['request'],
    status: 400,
    meaning: '"tenant" is not a tenant ID, a domain, or organizations.',
    action: 'Give the tenant as one of those.',
  },
  duplicate_id: {
    kinds: ['request'],
    status: 400,
    meaning: 'A connection with this id exists already.',
    action: 'Choose another id, or use the existing connection.',
  },
  invalid_login_hint: {
    kinds: ['request'],
    status: 400,
    meaning: 'login_hint is not a user principal name or e-mail address.',
    action: 'Give the account to sign in as user@domain, or leave login_hint out.',
  },

  // --- The directory (the admin API) -------------------------------------------------------
  invalid_find: {
    kinds: ['request'],
    status: 400,
    meaning: '"find" is missing or empty, longer than 256 characters, or holds control characters.',
    action: 'Give a userName, an e-mail address, the start of one, an externalId or a user id.',
  },
  directory_busy: {
    kinds: ['request'],
    status: 409,
    retryable: true,
    meaning: 'The users or groups kept changing while they were being counted (SCIM provisioning or a directory sync run was writing).',
    action: 'Recount again when provisioning is quiet; the counts kept meanwhile stay as they were.',
  },

  // --- The local host's own answers (the Functions host answers these itself in Azure) -----
  not_found: { kinds: ['request'], status: 404, meaning: 'No function serves this path.', action: 'Check the URL.' },
  method_not_allowed: {
    kinds: ['request'],
    status: 405,
    meaning: 'A function serves this path, but not with this method.',
    action: 'Use the method the endpoint takes.',
  },
  bad_request: { kinds: ['request'], status: 400, meaning: 'The URL has a malformed percent-escape.', action: 'Fix the URL.' },
  internal_error: {
    kinds: ['request', 'delivery'],
    status: 500,
    meaning: 'Something failed that ScanRelay did not foresee; the details are in the log, never in the answer.',
    action: 'Try again; if it keeps failing, give your administrator the invocation id the message names.',
  },

  // --- Delivery: why a destination failed, or is being retried ------------------------------
  destination_refused: {
    kinds: ['delivery'],
    meaning: "The destination's server refused the job and retrying cannot change that (an SMTP 5xx reply, an HTTP or Graph 4xx).",
    action: "Read the reason (it quotes the server); fix the destination's options or the far end, then redeliver.",
  },
  destination_unavailable: {
    kinds: ['delivery'],
    retryable: true,
    meaning: 'The destination could not be reached or answered with a temporary failure (network, timeout, SMTP 4xx, HTTP 5xx).',
    action: 'None: the delivery is retried; after the last attempt it fails and can be redelivered.',
  },
  destination_throttled: {
    kinds: ['delivery'],
    retryable: true,
    meaning: 'The destination asked to wait (HTTP 429 or 503 with Retry-After) for longer than one attempt waits.',
    action: 'None: the delivery is retried later.',
  },
  certificate_refused: {
    kinds: ['delivery'],
    meaning: "The destination's TLS certificate failed verification (self-signed, unknown CA, expired, wrong host name).",
    action: 'Install a valid certificate at the far end, or give the destination its CA (smtp tls.ca, httpForward tls); then redeliver.',
  },
  tls_required: {
    kinds: ['delivery'],
    meaning: 'The SMTP server offers no TLS, and ScanRelay sends no password or token in clear.',
    action: 'Enable STARTTLS or use "secure": true; "allowPlaintextAuth" allows it, unsafely.',
  },
  authentication_failed: {
    kinds: ['delivery'],
    meaning: 'The destination refused the credentials (an SMTP 535, a token refused twice).',
    action: 'Fix the password secret, or authorize the connection again; then redeliver.',
  },
  permission_denied: {
    kinds: ['delivery'],
    meaning: 'The account or app lacks the permission for this destination (Graph 403, a file share that refuses writes).',
    action: 'Grant the permission (docs/permissions.md); then redeliver.',
  },
  missing_variable: {
    kinds: ['delivery'],
    meaning: 'A template needs a %variable% this job does not have, or has empty.',
    action: "Make the workflow send the variable, or change the destination's template; then redeliver.",
  },
  invalid_address: {
    kinds: ['delivery'],
    meaning:
      'An address template rendered to something that is not exactly one e-mail address (or user principal name); or the sender of a graphMail destination with "auth": "application" (`from`, by default the job\'s userEmail) is not one plain mailbox address.',
    action: 'Check the variables the job carries (userEmail) and the template.',
  },
  invalid_path: {
    kinds: ['delivery'],
    meaning: 'The rendered folder or file path is not usable: it leaves the share root, follows a link outside it, or is not a folder.',
    action: 'Check %userHome% and the path templates.',
  },
  file_exists: {
    kinds: ['delivery'],
    meaning: 'A file of that name exists and the conflict behavior says not to replace it (or too many numbered variants exist).',
    action: 'Change "conflictBehavior", or the file name template.',
  },
  too_large: {
    kinds: ['delivery'],
    meaning: "The job is too large for this destination (the attachments over maxMessageBytes, an append over Graph's limit).",
    action: 'Raise the limit if the far end allows it, or send such jobs elsewhere.',
  },
  not_a_pdf: {
    kinds: ['delivery'],
    meaning: '"append" needs PDF documents, and one of them is not a PDF that can be read.',
    action: 'Use "replace" or "keepBoth" for other formats.',
  },
  blocked_address: {
    kinds: ['delivery'],
    meaning: 'The destination resolves to a loopback, private or link-local address, which httpForward refuses (SSRF).',
    action: 'Use a public address, or set "allowPrivateNetworks": true for a destination you trust.',
  },
  share_unavailable: {
    kinds: ['delivery'],
    retryable: true,
    meaning: "The file share's root does not exist (the share is not mounted).",
    action: 'Mount the share; the delivery is retried.',
  },
  upload_interrupted: {
    kinds: ['delivery'],
    retryable: true,
    meaning: 'An upload did not complete (a session expired, a document changed meanwhile, fewer bytes stored than sent).',
    action: 'None: the delivery is retried from the start.',
  },
  delivery_interrupted: {
    kinds: ['delivery'],
    meaning: 'The worker stopped while delivering (a crash or restart) several times in a row; ScanRelay stopped trying.',
    action: "Find the cause in the log (a file too large for the worker's memory?), then redeliver.",
  },

  // --- A job's delivery state -------------------------------------------------------------
  queued: {
    kinds: ['job'],
    meaning: 'Stored, waiting for its first delivery attempt.',
    action: 'None.',
  },
  retrying: {
    kinds: ['job'],
    meaning: 'An attempt failed for some destination and is retried; the reason says which.',
    action: 'None, unless it keeps failing.',
  },
  paced: {
    kinds: ['job'],
    meaning:
      "Waiting for room in a Microsoft 365 limit of a destination's target (a sending mailbox's 30 messages a minute or 150 MB per 5 minutes, the tenant's SharePoint resource units, or a Retry-After it answered); sent once there is room, spending no attempt.",
    action:
      'None. A mailbox that is often at its limit needs its load spread: send as the scanning user, or from more mailboxes (docs/scale.md).',
  },
  redelivering: {
    kinds: ['job'],
    meaning: 'An administrator asked for the job to be delivered again.',
    action: 'None.',
  },
  blocked: {
    kinds: ['job'],
    meaning:
      'Held back because the destinations cannot be used (the deployed file, when it is in force or still to be imported, or a stored version this version of ScanRelay refuses); looked at again every 5 minutes.',
    action: 'Fix what the reason names (the file, deployed again, or the stored destinations through the API); the job is then delivered.',
  },
  delivered: { kinds: ['job'], meaning: 'Delivered to every destination its rules select.', action: 'None.' },
  partially_failed: {
    kinds: ['job'],
    meaning: 'Delivered to some destinations; others failed (each says why).',
    action: 'Fix what the failed destinations say, then redeliver.',
  },
  failed: {
    kinds: ['job'],
    meaning: 'No destination was delivered (each says why).',
    action: 'Fix what the destinations say, then redeliver.',
  },
  undeliverable: {
    kinds: ['job'],
    meaning: 'No enabled destination rule selects the job, or no destinations are configured.',
    action: 'Change the rules or add a destination (POST /api/destinations, or the file when pinned), then redeliver.',
  },

  ...MAILBOX_ERRORS,
  ...NOTIFICATION_ERRORS,

  // --- A connection's state -----------------------------------------------------------------
  pending: {
    kinds: ['connection'],
    meaning: 'Created, not authorized yet.',
    action: "Open the connection's Authorize link and sign in.",
  },
  authorized: { kinds: ['connection'], meaning: 'Authorized; its tokens are refreshed by the timer.', action: 'None.' },
  error: {
    kinds: ['connection'],
    meaning: 'The last authorization failed; lastError says why.',
    action: 'Fix what lastError says, then authorize again.',
  },

  // --- Why a connection failed at the identity platform (its `errorCode`; AADSTS codes) ------
  refresh_token_expired: {
    kinds: ['connection'],
    meaning: 'AADSTS700082: the refresh token expired because it was not used for too long (90 days).',
    action: 'Authorize the connection again.',
  },
  sign_in_frequency: {
    kinds: ['connection'],
    meaning: 'AADSTS70043: a Conditional Access sign-in frequency policy requires a new sign-in.',
    action: "Authorize the connection again; exclude the account or ScanRelay's app from the sign-in frequency policy to avoid it.",
  },
  tokens_revoked: {
    kinds: ['connection'],
    meaning: "AADSTS50173: the tokens were revoked (the account's password was changed or reset, or its sessions were revoked).",
    action: 'Authorize the connection again.',
  },
  mfa_required: {
    kinds: ['connection'],
    meaning:
      'AADSTS50076, 50079 or 50158: multi-factor authentication or another Conditional Access challenge must be completed interactively.',
    action: 'Authorize the connection again and complete the prompt.',
  },
  blocked_by_conditional_access: {
    kinds: ['connection'],
    meaning: 'AADSTS53003: a Conditional Access policy blocks the account from getting tokens for ScanRelay.',
    action: "Find the policy in the account's sign-in logs, exclude ScanRelay or the account or satisfy it, then authorize again.",
  },
  consent_missing: {
    kinds: ['connection'],
    meaning: "AADSTS65001: consent to ScanRelay's app is missing or was revoked.",
    action: 'An administrator grants consent for the organization, then refreshes or authorizes the connection again.',
  },
  client_secret_invalid: {
    kinds: ['connection'],
    meaning:
      "AADSTS7000215: the identity platform refused ScanRelay's client secret (wrong value, or the secret's ID instead of its value).",
    action:
      'Create a new client secret (npm run app-registration), store it in Key Vault as oauth-client-secret, then refresh the connection.',
  },
  client_secret_expired: {
    kinds: ['connection'],
    meaning: "AADSTS7000222: the app registration's client secret expired.",
    action:
      'Create a new client secret (npm run app-registration), store it in Key Vault as oauth-client-secret, then refresh the connection.',
  },
  federated_credential_refused: {
    kinds: ['connection'],
    meaning:
      "AADSTS700211/700212/700213/70021: no federated identity credential of the app registration matches the managed identity's assertion (issuer, audience or subject); AADSTS700024: the assertion expired.",
    action:
      'Run npm run app-registration with managedIdentityObjectId = the deployment output managedIdentityPrincipalId (and the tenant ID), check AZURE_CLIENT_ID is that identity, then refresh the connection.',
  },
  app_not_in_tenant: {
    kinds: ['connection'],
    meaning: "AADSTS700016: the app registration was not found in the connection's tenant (wrong client ID, deleted, or single-tenant).",
    action: "Check OAUTH_CLIENT_ID and the connection's tenant, or consent to the app in that tenant; then authorize again.",
  },
  wrong_tenant_account: {
    kinds: ['connection'],
    meaning: "AADSTS50020 or 90072: the account is not a member or guest of the connection's tenant.",
    action: 'Sign in with an account of that tenant, or invite the account as a guest there; then authorize again.',
  },
  redirect_uri_mismatch: {
    kinds: ['connection'],
    meaning: 'AADSTS50011: the app registration does not list the redirect URI of the connection type.',
    action: 'Add exactly the redirect URI GET /api/connections shows as a Web redirect URI, then authorize again.',
  },
} as const satisfies Record<string, ErrorEntry>;

export type ErrorCode = keyof typeof ERRORS;

type CodesOf<K extends ErrorKind> = { [C in ErrorCode]: K extends (typeof ERRORS)[C]['kinds'][number] ? C : never }[ErrorCode];

/** A code an HTTP answer can carry. */
export type RequestErrorCode = CodesOf<'request'>;
/** A code a destination's outcome can carry. */
export type DeliveryErrorCode = CodesOf<'delivery'>;
/** Why a mailbox source rejected a message or cannot read. */
export type MailboxErrorCode = CodesOf<'mailbox'>;
/** A job's delivery state. */
export type JobDeliveryState = CodesOf<'job'>;

/** The request codes whose HTTP status is `S`. */
export type CodeWithStatus<S extends number> = {
  [C in RequestErrorCode]: (typeof ERRORS)[C] extends { status: S } ? C : never;
}[RequestErrorCode];

export function statusOf(code: RequestErrorCode): number {
  return (ERRORS[code] as ErrorEntry).status!;
}
