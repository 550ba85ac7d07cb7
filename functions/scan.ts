/** POST /api/scan — the Extension endpoint printers' scan workflows send each job to. */
import { ingestScan } from '../shared/ingest';
import { getServices } from '../shared/services';
import type { HttpFunction } from '../host/definitions';
import { bodyStream, contentLength, invocationLogger, senderAddress, withErrors } from '../host/http';

export const scan: HttpFunction = {
  kind: 'http',
  name: 'scan',
  route: 'scan',
  methods: ['POST'],
  authLevel: 'function',
  handler: withErrors(async (request, context) => {
    const result = await ingestScan(
      {
        contentType: request.headers.get('content-type') ?? undefined,
        contentLength: contentLength(request),
        contentEncoding: request.headers.get('content-encoding') ?? undefined,
        body: bodyStream(request),
        senderAddress: senderAddress(request),
      },
      getServices().ingestDeps(invocationLogger(context)),
    );
    return { status: 200, jsonBody: { jobId: result.jobId, files: result.files } };
  }),
};
