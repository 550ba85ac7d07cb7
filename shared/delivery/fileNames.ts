/**
 * The names a job's files get at a destination (file share, OneDrive, SharePoint): a template over
 * the job's fields plus `%fileName%` (the sender's name without extension), `%fileExtension%`
 * (e.g. `.pdf`; from the content type when the name has none; may be empty) and `%fileIndex%`
 * (1-based), each value escaped for where it lands. Without a template, the sender's file name.
 * Two files of one job never get the same name (compared ignoring case): later ones get ` (2)`,
 * ` (3)`... before the extension. Names are cut to 255 UTF-8 bytes, keeping the extension. A
 * destination may finish each name (`smbName` for a file share) before that comparison.
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

/**
 * @param finish makes a whole name valid where it lands (applied to the rendered name and again
 *   after truncation and suffixes, so it must be idempotent); names are compared after it.
 */
export function fileNames(
  job: DeliveryJob,
  template: string | undefined,
  escaping: Extract<Escaping, 'pathSegment' | 'driveItemName'>,
  finish: (name: string) => string = (name) => name,
): string[] {
  const used = new Set<string>();
  return job.files.map((file, i) => {
    const { stem, ext } = extensionOf(file);
    // %fileExtension% may be empty, which renderTemplate would refuse: it goes in first (it is safe text).
    const source = (template ?? '%fileName%%fileExtension%').replaceAll('%fileExtension%', ext);
    const rendered = renderTemplate(
      source,
      { ...job.fields, fileName: stem.trim() === '' ? 'scan' : stem, fileIndex: String(i + 1) },
      escaping,
    );
    const parts = splitExtension(finish(rendered.trim() === '' ? 'scan' : rendered));
    let name = finish(withSuffix(parts, ''));
    for (let n = 2; used.has(name.toLowerCase()); n++) name = finish(withSuffix(parts, ` (${n})`));
    used.add(name.toLowerCase());
    return name;
  });
}

/**
 * Characters SMB and Azure Files refuse in a name: `" \ / : | < > * ?` and the control characters
 * 0x00-0x1F ("Naming Files, Paths, and Namespaces",
 * https://learn.microsoft.com/windows/win32/fileio/naming-a-file; Azure Files' "Naming and
 * referencing shares, directories, files, and metadata",
 * https://learn.microsoft.com/rest/api/storageservices/naming-and-referencing-shares--directories--files--and-metadata).
 */
const SMB_FORBIDDEN = /["\\/:|<>*?\u0000-\u001f]/g;
/**
 * Device names Windows reserves, also followed by an extension (`NUL.txt`, `NUL.tar.gz` are NUL),
 * in any case: CON, PRN, AUX, NUL, COM0-9, COM¹²³, LPT0-9, LPT¹²³ (the Windows page), CLOCK$ (Azure
 * Files). Spaces before the dot do not help: Windows drops them.
 */
export const SMB_RESERVED = /^(CON|PRN|AUX|NUL|COM[0-9¹²³]|LPT[0-9¹²³]|CLOCK\$)(?=\s*(\.|$))/i;

/**
 * A name (one path segment) valid on SMB and Azure Files, as OneDrive names are made valid for
 * OneDrive: forbidden characters become `_`, trailing dots and spaces go ("Do not end a file or
 * directory name with a space or a period"), a reserved device name gets `_` after it (`CON_`,
 * `con_.txt`), an empty name is `_`. Idempotent.
 */
export function smbName(name: string): string {
  const cleaned = name.replace(SMB_FORBIDDEN, '_').replace(/[. ]+$/, '');
  return cleaned === '' ? '_' : cleaned.replace(SMB_RESERVED, '$1_');
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
