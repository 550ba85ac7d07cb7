/**
 * The SCIM operations on the directory: route.ts (routing, discovery), read.ts (get, list),
 * write.ts (create, replace, patch, delete), representation.ts (resources as returned) and
 * request.ts (body and query parameters). The rest of shared/scim imports the service from here.
 */
export { routeScim } from './route';
