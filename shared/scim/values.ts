/**
 * Small helpers over JSON values as the SCIM code reads them: objects, single or multiple values,
 * and attribute names matched without regard to case (RFC 7643 §2.1).
 */
export const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

export const asArray = (v: unknown): unknown[] => (Array.isArray(v) ? v : v === undefined || v === null ? [] : [v]);

/** An own property by name, case-insensitively (RFC 7643 §2.1); an exact match wins. */
export function getProperty(obj: unknown, name: string): unknown {
  if (!isObject(obj)) return undefined;
  if (Object.prototype.hasOwnProperty.call(obj, name)) return obj[name];
  const lower = name.toLowerCase();
  for (const k of Object.keys(obj)) if (k.toLowerCase() === lower) return obj[k];
  return undefined;
}
