/**
 * The codes of POST /api/scan's answers about the request body and its storing (the catalog's
 * first section; catalog.ts spreads them in at their place, which docs/errors.md follows).
 */
import type { ErrorEntry } from './catalog';

const SCAN = 'POST /api/scan';

export const INGEST_ERRORS = {
  unsupported_media_type: {
    kinds: ['request'],
    status: 415,
    meaning: `The request's Content-Type is missing or not one the endpoint takes (${SCAN} takes multipart/form-data only).`,
    action: 'Send the scan job as multipart/form-data.',
  },
  unsupported_content_encoding: {
    kinds: ['request'],
    status: 415,
    meaning: 'The body is compressed (Content-Encoding gzip, deflate, br...), which ScanRelay does not decode.',
    action: 'Send the body uncompressed.',
  },
  missing_boundary: {
    kinds: ['request'],
    status: 400,
    meaning: 'Content-Type multipart/form-data has no boundary parameter.',
    action: "Fix the sender: its Content-Type must carry the body's boundary.",
  },
  malformed_content_type: {
    kinds: ['request'],
    status: 400,
    meaning: 'A Content-Type (of the request or of a part) cannot be read, or the boundary is not 1 to 200 printable ASCII characters.',
    action: 'Fix the sender; the message says which Content-Type.',
  },
  malformed_multipart: {
    kinds: ['request'],
    status: 400,
    meaning:
      'The body cannot be read as multipart/form-data: it ends before the closing boundary, or a part has no form-data Content-Disposition or a header that cannot be read. No part is ever skipped silently.',
    action: 'The message names the part. Send the job again; if it keeps failing, the sender or its connector builds broken bodies.',
  },
  unnamed_part: {
    kinds: ['request'],
    status: 400,
    meaning: 'A part has no name (Content-Disposition: form-data; name="...").',
    action: 'Fix the sender: every scan variable and file needs a name.',
  },
  unsupported_transfer_encoding: {
    kinds: ['request'],
    status: 400,
    meaning: 'A part has a Content-Transfer-Encoding such as base64 (RFC 7578 §4.7 forbids it); its bytes would be stored encoded.',
    action: 'Send parts unencoded.',
  },
  unsupported_charset: {
    kinds: ['request'],
    status: 400,
    meaning: "A text part's charset is one ScanRelay cannot decode.",
    action: 'Send text fields in UTF-8.',
  },
  field_name_too_long: {
    kinds: ['request'],
    status: 400,
    meaning: "A part's name is longer than 200 bytes.",
    action: 'Use shorter variable names.',
  },
  too_many_files: {
    kinds: ['request'],
    status: 400,
    meaning: 'The request has more file parts than SCAN_MAX_FILES.',
    action: 'Send fewer files per job, or raise SCAN_MAX_FILES.',
  },
  too_many_fields: {
    kinds: ['request'],
    status: 400,
    meaning: 'The request has more text fields than SCAN_MAX_FIELDS.',
    action: 'Send fewer variables, or raise SCAN_MAX_FIELDS.',
  },
  duplicate_field: {
    kinds: ['request'],
    status: 400,
    meaning: 'A text field is sent more than once.',
    action: 'Send each variable once.',
  },
  no_file: {
    kinds: ['request'],
    status: 400,
    meaning: 'The request has no file part.',
    action: 'Attach the scan as a file (filename="...").',
  },
  empty_file: {
    kinds: ['request'],
    status: 400,
    meaning: 'A file part is empty.',
    action: 'Scan again; the device sent a file without content.',
  },
  field_too_large: {
    kinds: ['request'],
    status: 413,
    meaning: 'A text field is longer than SCAN_MAX_FIELD_BYTES.',
    action: 'Send a shorter value, or raise SCAN_MAX_FIELD_BYTES.',
  },
  fields_too_large: {
    kinds: ['request'],
    status: 413,
    meaning: 'The text fields together are too large to store with the job (about 900 KiB).',
    action: 'Send fewer or shorter text fields.',
  },
  file_too_large: {
    kinds: ['request'],
    status: 413,
    meaning: 'A file is larger than SCAN_MAX_FILE_BYTES.',
    action: 'Scan at a lower resolution or in parts, or raise SCAN_MAX_FILE_BYTES.',
  },
  request_too_large: {
    kinds: ['request'],
    status: 413,
    meaning: 'The request is larger than SCAN_MAX_REQUEST_BYTES (checked on Content-Length and while reading).',
    action: 'Send fewer or smaller files, or raise SCAN_MAX_REQUEST_BYTES (and the host limit FUNCTIONS_REQUEST_BODY_SIZE_LIMIT in Azure).',
  },
  request_aborted: {
    kinds: ['request'],
    status: 400,
    meaning: 'The body stopped or ended before it was complete (the sender disconnected, or sent slower than the host accepts).',
    action: 'Send the job again.',
  },
  duplicate_in_progress: {
    kinds: ['request'],
    status: 409,
    retryable: true,
    meaning: 'Another request with the same scanJobID is being stored right now.',
    action: 'Retry after Retry-After seconds; the retry answers with the stored job.',
  },
  ingest_interrupted: {
    kinds: ['request'],
    status: 503,
    retryable: true,
    meaning: 'Storing the job took longer than its lease (INGEST_LEASE_SECONDS) and it was given up; nothing of it is kept.',
    action: 'Send the job again.',
  },
} as const satisfies Record<string, ErrorEntry>;
