/**
 * The names a job's files get at a destination (file share, OneDrive, SharePoint): a template over
 * the job's fields plus `%fileName%` (the sender's name without extension), `%fileExtension%`
 * (e.g. `.pdf`; from the content type when the name has none; may be empty) and `%fileIndex%`
 * (1-based), each value escaped for where it lands. Without a template, the sender's file name.
 * Two files of one job never get the same name (compared ignoring case): later ones get ` (2)`,
 * ` (3)`... before the extension. Names are cut to 255 UTF-8 bytes, keeping the extension.
 */
import { renderTemplate, type Escaping } from './template';
import type { DeliveryFile, DeliveryJob } from './types';

export const MAX_NAME_BYTES = 255;
/** An extension kept apart from the stem (and re-added after truncation or a suffix). */
const EXTENSION = /(\.[A-Za-z0-9_-]{1,16})$/;

const EXTENSIONS: Readonly<Record<string, string>> = {
  'application/pdf': '.pdf',
  'image/jpeg': '.jpg',
  'image/jpg': '.jpg',
  'image/png': '.png',
  'image/tiff': '.tif',
  'image/gif': '.gif',
  'image/bmp': '.bmp',
  'image/webp': '.webp',
  'image/heic': '.heic',
  'text/plain': '.txt',
  'text/csv': '.csv',
  'text/xml': '.xml',
  'application/xml': '.xml',
  'application/json': '.json',
  'application/zip': '.zip',
  'application/vnd.openxmlformats-officedocument.wordprocessingml.document': '.docx',
  'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet': '.xlsx',
  'application/vnd.openxmlformats-officedocument.presentationml.presentation': '.pptx',
};

/** The sender's name split into stem and extension; the extension from the content type when the name has none. */
export function extensionOf(file: Pick<DeliveryFile, 'name' | 'contentType'>): { stem: string; ext: string } {
  const base = file.name.split(/[\\/]/).pop() ?? '';
  const m = EXTENSION.exec(base);
  if (m && m.index > 0) return { stem: base.slice(0, m.index), ext: m[1]! };
  const type = file.contentType.split(';')[0]!.trim().toLowerCase();
  return { stem: base, ext: EXTENSIONS[type] ?? '' };
}

export function fileNames(job: DeliveryJob, template: string | undefined, escaping: Extract<Escaping, 'pathSegment' | 'driveItemName'>): string[] {
  const used = new Set<string>();
  return job.files.map((file, i) => {
    const { stem, ext } = extensionOf(file);
    // %fileExtension% may be empty, which renderTemplate would refuse: it goes in first (it is safe text).
    const source = (template ?? '%fileName%%fileExtension%').replaceAll('%fileExtension%', ext);
    const rendered = renderTemplate(source, { ...job.fields, fileName: stem.trim() === '' ? 'scan' : stem, fileIndex: String(i + 1) }, escaping);
    const parts = splitExtension(rendered.trim() === '' ? 'scan' : rendered);
    let name = withSuffix(parts, '');
    for (let n = 2; used.has(name.toLowerCase()); n++) name = withSuffix(parts, ` (${n})`);
    used.add(name.toLowerCase());
    return name;
  });
}

export function splitExtension(name: string): { stem: string; ext: string } {
  const m = EXTENSION.exec(name);
  return m && m.index > 0 ? { stem: name.slice(0, m.index), ext: m[1]! } : { stem: name, ext: '' };
}

/** `stem + suffix + ext`, the stem cut so that the whole fits in 255 UTF-8 bytes. */
export function withSuffix(parts: { stem: string; ext: string }, suffix: string): string {
  const room = MAX_NAME_BYTES - Buffer.byteLength(suffix + parts.ext);
  return truncateBytes(parts.stem, room) + suffix + parts.ext;
}

/** The longest prefix of `s` (whole characters) within `max` UTF-8 bytes. */
export function truncateBytes(s: string, max: number): string {
  if (Buffer.byteLength(s) <= max) return s;
  let out = '';
  let bytes = 0;
  for (const ch of s) {
    const b = Buffer.byteLength(ch);
    if (bytes + b > max) break;
    out += ch;
    bytes += b;
  }
  return out;
}
