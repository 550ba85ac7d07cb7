/**
 * File share: writes each file of a job into a folder on a mounted share (Azure Files mounted
 * into the Function App, e.g. `/mounts/scans`; locally any directory).
 *
 * Options (options.ts): `basePath`, an absolute path template whose literal part before the first
 * variable is the fixed ROOT, which must already exist (a missing root means the share is not
 * mounted: a transient failure; nothing is ever created above or outside it); `folder`,
 * `fileName`, `conflictBehavior`, `createFolders`.
 *
 * Rendering:
 * - Every variable is escaped as ONE path segment, except `%userHome%`, a whole segment of
 *   basePath whose value is a path (`/home/alice`, `\\fs01\home\alice`): leading and trailing
 *   separators (and a Windows drive `C:`) are dropped, the rest is split on `/` and `\` and each
 *   part escaped as a path segment, so the home lands as a sub-path under the root (`/etc`
 *   becomes `<root>/etc`). An empty, `.` or `..` part is refused (PermanentDeliveryError).
 * - `folder` (default ''): sub-folder(s) under basePath, `/`-separated, each segment a template.
 * - `fileName` (default: the sender's file name escaped as one path segment): a template with the
 *   job's fields plus `%fileName%` (the sender's name without extension), `%fileExtension%` (e.g.
 *   `.pdf`; from the content type when the name has none; may be empty) and `%fileIndex%` (1-based).
 *   When two files of a job get the same name, the later ones get ` (2)`, ` (3)`... before the
 *   extension. Names are cut to 255 UTF-8 bytes (keeping the extension).
 * - Names valid on SMB / Azure Files, as OneDrive names are valid on OneDrive: in every rendered
 *   folder segment, `%userHome%` part and file name, the characters SMB forbids (`" \ / : | < > *
 *   ?`, control characters) become `_`, trailing dots and spaces are dropped and a reserved device
 *   name gets `_` after it (`CON` → `CON_`, `nul.txt` → `nul_.txt`); see smbName in ../fileNames.ts.
 * - `conflictBehavior`: `fail` (PermanentDeliveryError, the existing file untouched), `replace`
 *   (atomic overwrite), `keepBoth` (default: `name 1.pdf`, `name 2.pdf`... like OneDrive).
 * - `createFolders` (default true): create missing folders, else a missing folder is permanent.
 *
 * Containment: the resolved destination must stay under the root (path.relative), and folders
 * are walked one segment at a time from the root's realpath: each segment is created (if allowed)
 * and its realpath must stay under the root's realpath before going deeper, so a symlink inside
 * the share that points outside is refused before anything is created or written through it.
 *
 * Writing: every file is first streamed (stream.pipeline, never buffered) into a hidden temp file
 * `.<name>.<random>.partial` created with `wx` in the destination folder, fsynced, and only when
 * ALL files of the job are staged are they given their final names. A failure removes the temp
 * files, so a retry by the deliverer never finds half files.
 * - replace: rename(temp, final), atomic on POSIX.
 * - fail / keepBoth: link(temp, candidate) then unlink(temp). link() never overwrites (EEXIST), so
 *   two concurrent deliveries can never take the same name; keepBoth then tries `name 1.pdf`,
 *   `name 2.pdf`... If the file system has no hard links (EPERM/ENOTSUP, e.g. some SMB mounts), the
 *   name is reserved with an exclusive create (`wx`) and the temp file renamed over that
 *   reservation (readers may briefly see an empty file).
 *
 * Errors: ENOSPC, EDQUOT, EIO, EAGAIN, EBUSY, ETIMEDOUT, ESTALE, connection errors and a failing
 * source stream are transient; EACCES, EPERM, ENOTDIR, EISDIR, EROFS, ENAMETOOLONG, ELOOP and
 * EINVAL are permanent, with a short reason (no stack).
 *
 * Result: `{ remoteId: '<final path>; <final path>...' }`.
 */
import { randomBytes } from 'node:crypto';
import { link, lstat, mkdir, open, realpath, rename, stat, unlink, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { fileNames, MAX_NAME_BYTES, smbName, splitExtension, truncateBytes, withSuffix } from '../fileNames';
import { parseOptions } from '../options';
import { previewFileNames, previewTemplate } from '../preview';
import { escapeValue, MissingVariableError, renderTemplate } from '../template';
import { PermanentDeliveryError, TransientDeliveryError, type Connector, type DeliveryFile } from '../types';
import { fileShareOptionsSchema, SEPARATORS, USER_HOME, type ConflictBehavior, type FileShareOptions } from './options';

export { fileShareOptionsSchema, type ConflictBehavior, type FileShareOptions } from './options';

const MAX_KEEP_BOTH = 10_000;

export const fileShareConnector: Connector<FileShareOptions> = {
  type: 'fileShare',
  optionsSchema: fileShareOptionsSchema,
  parseOptions: (raw) => parseOptions(fileShareOptionsSchema, raw),

  preview: (job, o) => [
    ...previewTemplate('basePath', o.basePath, () => targetFolder(o, job.fields, false)),
    ...(o.folderSegments.length ? previewTemplate('folder', o.folderSegments.join('/'), () => targetFolder(o, job.fields, true)) : []),
    ...previewFileNames(job, o.fileName, (j) => fileNames(j, o.fileName, 'pathSegment', smbName)),
  ],

  async deliver(job, options, context) {
    const { root } = options;
    const relative = relativeFolder(options, job.fields, true);
    const folder = targetFolder(options, job.fields, true);

    const realFolder = await prepareFolder(root, relative, options.createFolders);
    const names = fileNames(job, options.fileName, 'pathSegment', smbName);

    const staged: Array<{ temp: string; name: string; file: DeliveryFile }> = [];
    const delivered: string[] = [];
    try {
      // Stage every file first: a failure while streaming (the likely one) leaves nothing delivered.
      for (const [i, file] of job.files.entries()) {
        const name = names[i]!;
        const temp = path.join(realFolder, `.${truncateBytes(name, 200)}.${randomBytes(6).toString('hex')}.partial`);
        staged.push({ temp, name, file });
        await writeTemp(file, temp, path.join(folder, name));
      }
      for (const s of staged) {
        const finalName = await commit(s.temp, realFolder, s.name, options.conflictBehavior, path.join(folder, s.name));
        s.temp = '';
        delivered.push(path.join(folder, finalName));
      }
    } catch (err) {
      await Promise.all(staged.filter((s) => s.temp).map((s) => unlink(s.temp).catch(() => undefined)));
      if (delivered.length > 0)
        context.log.warn('fileShare: delivery failed after some files were written', { jobId: job.jobId, written: delivered.length });
      throw err;
    }
    return { remoteId: delivered.join('; ') };
  },
};

/** The folder's segments below the root: `basePath`'s, and `folder`'s too unless `withFolder` is false. */
function relativeFolder(o: FileShareOptions, fields: Readonly<Record<string, string>>, withFolder: boolean): string[] {
  return [
    ...o.baseSegments.flatMap((s) => (s === USER_HOME ? userHomeSegments(fields) : [renderSegment(s, fields)])),
    ...(withFolder ? o.folderSegments.map((s) => renderSegment(s, fields)) : []),
  ];
}

/** The folder the files go to (without `folder` when `withFolder` is false), refused when it leaves the root. */
function targetFolder(o: FileShareOptions, fields: Readonly<Record<string, string>>, withFolder: boolean): string {
  const folder = path.resolve(o.root, ...relativeFolder(o, fields, withFolder));
  if (!isInside(o.root, folder))
    throw new PermanentDeliveryError('invalid_path', 'File share: the destination path leaves the share root; refused.');
  return folder;
}

/** Renders one segment template: every variable is escaped as a path segment; the whole made a valid SMB name. */
function renderSegment(template: string, fields: Readonly<Record<string, string>>): string {
  return finishSegment(renderTemplate(template, fields, segment));
}

/** A valid SMB name within 255 bytes (valid again after the cut: it may leave a trailing dot or space). */
function finishSegment(s: string): string {
  return smbName(truncateBytes(smbName(guard(s)), MAX_NAME_BYTES));
}

/** One escaped path segment; never empty, `.` or `..` (escapeValue turns `...` into `.`). */
function segment(value: string): string {
  return guard(escapeValue(value, 'pathSegment'));
}

function guard(s: string): string {
  const t = s.trim();
  return t === '' || t === '.' || t === '..' ? '_' : s;
}

/** `%userHome%` as a relative sub-path: its parts escaped one by one; empty/`.`/`..` parts refused. */
function userHomeSegments(fields: Readonly<Record<string, string>>): string[] {
  const value = Object.hasOwn(fields, 'userHome') ? fields.userHome! : '';
  if (value.trim() === '') throw new MissingVariableError('userHome', USER_HOME);
  const trimmed = value
    .trim()
    .replace(/^[\\/]+/, '')
    .replace(/^[A-Za-z]:[\\/]*/, '')
    .replace(/[\\/]+$/, '');
  const parts = trimmed.split(SEPARATORS);
  for (const p of parts) {
    const t = p.replace(/[\u0000-\u001f\u007f]/g, '').trim();
    if (t === '' || t === '.' || t === '..') {
      throw new PermanentDeliveryError(
        'invalid_path',
        "File share: %userHome% is not a usable folder path (it has an empty, '.' or '..' part); refused.",
      );
    }
  }
  return parts.map((p) => finishSegment(segment(p)));
}

function isInside(parent: string, child: string): boolean {
  const rel = path.relative(parent, child);
  return rel === '' || (rel !== '..' && !rel.startsWith(`..${path.sep}`) && !path.isAbsolute(rel));
}

/**
 * Walks from the root's realpath one segment at a time, creating each missing folder (if
 * allowed) and checking its realpath stays under the root's before going deeper.
 */
async function prepareFolder(root: string, relative: string[], createFolders: boolean): Promise<string> {
  let realRoot: string;
  try {
    realRoot = await realpath(root);
    if (!(await stat(realRoot)).isDirectory())
      throw new PermanentDeliveryError('invalid_path', `File share: the root ${root} is not a folder.`);
  } catch (err) {
    if (err instanceof PermanentDeliveryError) throw err;
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new TransientDeliveryError('share_unavailable', `File share: the root ${root} does not exist (is the share mounted?).`);
    }
    throw classify(err, root);
  }
  let current = realRoot;
  for (const seg of relative) {
    const next = path.join(current, seg);
    try {
      if (createFolders) {
        try {
          await mkdir(next);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
        }
      }
      const real = await realpath(next);
      if (!isInside(realRoot, real))
        throw new PermanentDeliveryError(
          'invalid_path',
          'File share: the destination folder is a link that leads outside the share root; refused.',
        );
      if (!(await stat(real)).isDirectory()) throw new PermanentDeliveryError('invalid_path', `File share: ${next} is not a folder.`);
      current = real;
    } catch (err) {
      if (err instanceof PermanentDeliveryError) throw err;
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
        throw new PermanentDeliveryError(
          'invalid_path',
          `File share: the folder ${next} does not exist${createFolders ? '' : ' ("createFolders" is false)'}.`,
        );
      }
      throw classify(err, next);
    }
  }
  return current;
}

/** Streams a file into a new temp file (exclusive create) and fsyncs it; removes it on failure. */
async function writeTemp(file: DeliveryFile, temp: string, shown: string): Promise<void> {
  let handle: FileHandle;
  try {
    handle = await open(temp, 'wx');
  } catch (err) {
    throw classify(err, shown);
  }
  try {
    const source = await file.open();
    const out = handle;
    await pipeline(source, async (chunks: AsyncIterable<Buffer | string>) => {
      for await (const chunk of chunks) {
        const buffer = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
        for (let offset = 0; offset < buffer.length;) offset += (await out.write(buffer, offset, buffer.length - offset)).bytesWritten;
      }
    });
    await handle.sync();
  } catch (err) {
    await handle.close().catch(() => undefined);
    await unlink(temp).catch(() => undefined);
    throw classify(err, shown);
  }
  try {
    await handle.close();
  } catch (err) {
    await unlink(temp).catch(() => undefined);
    throw classify(err, shown);
  }
}

/** Gives a staged temp file its final name; returns the name used. */
async function commit(temp: string, folder: string, name: string, behavior: ConflictBehavior, shown: string): Promise<string> {
  try {
    if (behavior === 'replace') {
      const target = path.join(folder, name);
      const existing = await lstat(target).catch(() => undefined);
      if (existing?.isDirectory()) throw new PermanentDeliveryError('file_exists', `File share: ${shown} is a folder; not replaced.`);
      await rename(temp, target);
      return name;
    }
    const { stem, ext } = splitExtension(name);
    for (let n = 0; n <= MAX_KEEP_BOTH; n++) {
      const candidate = n === 0 ? name : withSuffix({ stem, ext }, ` ${n}`);
      if (await placeNoOverwrite(temp, path.join(folder, candidate))) return candidate;
      if (behavior === 'fail')
        throw new PermanentDeliveryError('file_exists', `File share: ${shown} already exists ("conflictBehavior" is "fail").`);
    }
    throw new PermanentDeliveryError('file_exists', `File share: ${shown} and ${MAX_KEEP_BOTH} numbered variants already exist.`);
  } catch (err) {
    throw classify(err, shown);
  }
}

const NO_HARD_LINKS = new Set(['EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'ENOSYS', 'EXDEV', 'EMLINK']);

/**
 * Moves temp to target unless target exists (false then). link() fails with EEXIST rather than
 * overwrite; without hard links, the name is reserved with an exclusive create and the temp file
 * renamed over the reservation.
 */
async function placeNoOverwrite(temp: string, target: string): Promise<boolean> {
  try {
    await link(temp, target);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') return false;
    if (!code || !NO_HARD_LINKS.has(code)) throw err;
    try {
      const reservation = await open(target, 'wx');
      await reservation.close();
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
      throw e;
    }
    await rename(temp, target);
    return true;
  }
  await unlink(temp).catch(() => undefined); // delivered; a leftover hidden temp is only untidy
  return true;
}

const TRANSIENT = new Set([
  'ENOSPC',
  'EDQUOT',
  'EIO',
  'ENOENT',
  'EAGAIN',
  'EBUSY',
  'ETIMEDOUT',
  'ESTALE',
  'EINTR',
  'EMFILE',
  'ENFILE',
  'ECANCELED',
  'ECONNRESET',
  'ECONNABORTED',
  'ECONNREFUSED',
  'ENOTCONN',
  'EPIPE',
  'EHOSTDOWN',
  'EHOSTUNREACH',
  'ENETDOWN',
  'ENETUNREACH',
  'ENETRESET',
]);

const REASONS: Readonly<Record<string, string>> = {
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  ENOTDIR: 'a part of the path is a file, not a folder',
  EISDIR: 'the name is taken by a folder',
  EROFS: 'the share is read-only',
  ENAMETOOLONG: 'the path or name is too long',
  ELOOP: 'too many symbolic links',
  EINVAL: 'the name is not valid on this share',
  ENOENT: 'the folder disappeared meanwhile',
  ENOSPC: 'the share is full',
  EDQUOT: 'the share quota is exceeded',
  EIO: 'an I/O error',
};

/** Maps a file-system (or source stream) error to a transient or permanent delivery error. */
export function classify(err: unknown, shown: string): Error {
  if (err instanceof PermanentDeliveryError || err instanceof TransientDeliveryError) return err;
  const e = err as NodeJS.ErrnoException;
  const code = typeof e?.code === 'string' ? e.code : undefined;
  if (code && /^E[A-Z0-9]+$/.test(code) && (e.syscall || TRANSIENT.has(code) || REASONS[code])) {
    const message = `File share: writing ${shown} failed: ${REASONS[code] ?? e.syscall ?? 'error'} (${code}).`;
    if (TRANSIENT.has(code)) return new TransientDeliveryError('destination_unavailable', message);
    return new PermanentDeliveryError(
      code === 'EACCES' || code === 'EPERM' || code === 'EROFS' ? 'permission_denied' : 'destination_refused',
      message,
    );
  }
  // Reading the stored file failed (or something unexpected): worth another attempt.
  return new TransientDeliveryError(
    'destination_unavailable',
    `File share: writing ${shown} failed: ${(e?.message ?? String(err)).slice(0, 300)}`,
  );
}
