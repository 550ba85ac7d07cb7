/**
 * Small helpers the SCIM protocol core shares: JSON values as it reads them (objects, single or
 * multiple values, property names matched without regard to case, RFC 7643 §2.1), and a client's
 * name quoted in an error detail.
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

/** Quotes a client-supplied name in an error detail: printable, and cut (with '…') past `max` characters. */
export const quoteName = (s: string, max = 60): string => {
  const printable = s.replace(/[^\x20-\x7e]/g, '?');
  return `"${printable.length > max ? `${printable.slice(0, max)}…` : printable}"`;
};
