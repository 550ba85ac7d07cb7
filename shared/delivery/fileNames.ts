/**
 * The names a job's files get at a destination (file share, OneDrive, SharePoint): a template over
 * the job's fields plus `%fileName%` (the sender's name without extension), `%fileExtension%`
 * (e.g. `.pdf`; from the content type when the name has none) and `%fileIndex%` (1-based), each
 * value escaped for where it lands. Without a template, the sender's file name (escaped).
 * Two files of one job never get the same name: later ones get ` (2)`, ` (3)`... before the
 * extension. Names are cut to 255 UTF-8 bytes, keeping the extension.
 */
import { escapeValue, renderTemplate, type Escaping } from './template';
import type { DeliveryJob } from './types';

const MAX_NAME_BYTES = 255;
const EXTENSION = /(\.[A-Za-z0-9_-]{1,16})$/;

const EXTENSIONS: Readonly<Record<string, string>> = {
  'application/pdf': '.pdf',
  'image/jpeg': '.jpg',
  'image/png': '.png',
  'image/tiff': '.tif',
  'image/gif': '.gif',
  'text/plain': '.txt',
  'application/xml': '.xml',
  'text/xml': '.xml',
  'application/json': '.json',
};

/** The extension of a stored file: from its name, else from its content type, else ''. */
export function fileExtension(name: string, contentType: string): string {
  return EXTENSION.exec(name)?.[1] ?? EXTENSIONS[contentType.toLowerCase()] ?? '';
}

export function fileNames(job: DeliveryJob, template: string | undefined, escaping: Extract<Escaping, 'pathSegment' | 'driveItemName'>): string[] {
  const taken = new Set<string>();
  return job.files.map((file, i) => {
    const ext = fileExtension(file.name, file.contentType);
    const stem = ext && file.name.toLowerCase().endsWith(ext.toLowerCase()) ? file.name.slice(0, -ext.length) : file.name;
    const rendered = template
      ? // %fileExtension% may be empty (a name and type we do not know): put it in first, it is safe text.
        renderTemplate(template.replaceAll('%fileExtension%', ext), { ...job.fields, fileName: stem || 'scan', fileIndex: String(i + 1) }, escaping)
      : escapeValue(file.name.trim() === '' ? `scan${ext}` : file.name, escaping);
    let name = cut(rendered.replace(/\s+$/, '') || `scan${ext}`);
    for (let n = 2; taken.has(name.toLowerCase()); n++) name = withSuffix(rendered, ` (${n})`);
    taken.add(name.toLowerCase());
    return name;
  });
}

/** `name.pdf` + ` (2)` → `name (2).pdf`, within 255 bytes. */
export function withSuffix(name: string, suffix: string): string {
  const ext = EXTENSION.exec(name)?.[1] ?? '';
  return cut(name.slice(0, name.length - ext.length) + suffix + ext);
}

function cut(name: string): string {
  if (Buffer.byteLength(name) <= MAX_NAME_BYTES) return name;
  const ext = EXTENSION.exec(name)?.[1] ?? '';
  let stem = name.slice(0, name.length - ext.length);
  while (Buffer.byteLength(stem + ext) > MAX_NAME_BYTES) stem = [...stem].slice(0, -1).join('');
  return stem + ext;
}
