/**
 * Table Storage holds strings of up to 32K UTF-16 units per property and 1 MiB per entity:
 * long text is split into properties `<name>0`, `<name>1`, ... with the count in `<name>Chunks`.
 */
const CHUNK_CHARS = 30_000;

export function packText(name: string, text: string): Record<string, string | number> {
  const out: Record<string, string | number> = {};
  let i = 0;
  for (let at = 0; at < text.length || i === 0; at += CHUNK_CHARS, i++) {
    out[`${name}${i}`] = text.slice(at, at + CHUNK_CHARS);
  }
  out[`${name}Chunks`] = i;
  return out;
}

export function unpackText(name: string, entity: Record<string, unknown>): string {
  const chunks = Number(entity[`${name}Chunks`] ?? 0);
  let text = '';
  for (let i = 0; i < chunks; i++) {
    const chunk = entity[`${name}${i}`];
    text += typeof chunk === 'string' ? chunk : '';
  }
  return text;
}

/** Approximate stored size of an entity, in bytes. */
export function entityBytes(entity: Record<string, unknown>): number {
  let n = 0;
  for (const [k, v] of Object.entries(entity)) n += 2 * k.length + (typeof v === 'string' ? 2 * v.length : 16);
  return n;
}
