/**
 * /api/scim/v2/{*path}: the SCIM 2.0 endpoint Microsoft Entra ID provisions users and groups into
 * (shared/scim). Anonymous at the Functions level: SCIM's own bearer token is checked inside.
 */
import type { HttpResponseInit } from '@azure/functions';
import { describeError } from '../shared/log';
import { handleScim, SCIM_CONTENT_TYPE, SCIM_MAX_BODY_BYTES, scimErrorResponse, type ScimResponse } from '../shared/scim';
import { getServices } from '../shared/services';
import type { HttpFunction } from '../host/definitions';
import { invocationLogger, readText } from '../host/http';

export const scim: HttpFunction = {
  kind: 'http',
  name: 'scim',
  route: 'scim/v2/{*path}',
  methods: ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'],
  authLevel: 'anonymous',
  handler: async (request, context) => {
    try {
      const services = getServices();
      const url = new URL(request.url);
      const origin = services.config.oauth.publicBaseUrl ?? url.origin;
      const response = await handleScim(services.scimDeps(invocationLogger(context)), {
        method: request.method,
        path: `/${request.params.path ?? ''}`,
        query: url.searchParams,
        headers: {
          authorization: request.headers.get('authorization'),
          ifMatch: request.headers.get('if-match'),
          contentType: request.headers.get('content-type'),
        },
        readBody: async () => (['GET', 'DELETE'].includes(request.method) ? undefined : readText(request, SCIM_MAX_BODY_BYTES)),
        baseUrl: `${origin}/api/scim/v2`,
        invocationId: context.invocationId,
      });
      return toHttp(response);
    } catch (err) {
      // handleScim answers every failure itself; this is the app's wiring failing (settings, services).
      context.error('scim: internal error', describeError(err));
      return toHttp(
        scimErrorResponse(
          500,
          undefined,
          `The request could not be completed; if it keeps failing, give your administrator the invocation id ${context.invocationId}.`,
        ),
      );
    }
  },
};

function toHttp(response: ScimResponse): HttpResponseInit {
  return {
    status: response.status,
    headers: { ...(response.body ? { 'content-type': SCIM_CONTENT_TYPE } : {}), ...response.headers },
    ...(response.body ? { body: JSON.stringify(response.body) } : {}),
  };
}
