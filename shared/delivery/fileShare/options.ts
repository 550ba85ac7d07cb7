/**
 * The options of a `fileShare` destination, as a zod schema. `basePath` is an absolute path
 * template whose literal part before the first variable (cut back to its last separator) is the
 * fixed ROOT, kept apart with the segment templates below it; `folder` is split into segment
 * templates too. `.`/`..` segments and control characters are refused, `%userHome%` must be a
 * whole segment, and the templates' own text is checked against the SMB and Azure Files naming
 * rules (see smbName in ../fileNames.ts): refused at start-up rather than changed, since the
 * administrator wrote it. What variables bring is made valid when rendered (index.ts).
 */
import path from 'node:path';
import { z } from 'zod';
import { SMB_RESERVED } from '../fileNames';
import { flag, text } from '../options';
import { findVariables, literalText } from '../template';

export const SEPARATORS = /[\\/]/;
export const USER_HOME = '%userHome%';
const CONTROL = /[\u0000-\u001f\u007f]/;
/** Characters SMB and Azure Files refuse in a name, besides the separators and control characters refused already. */
const SMB_FORBIDDEN_TEXT = /["*:<>?|]/;

/** What a template's text breaks, thrown by the checks below and turned into the option's issue. */
class Refusal extends Error {}

/** A transform whose checks throw Refusals: each becomes an issue of the option. */
const checked =
  <T>(check: (value: string) => T) =>
  (value: string, ctx: z.RefinementCtx): T => {
    try {
      return check(value);
    } catch (err) {
      if (!(err instanceof Refusal)) throw err;
      ctx.addIssue({ code: 'custom', message: err.message });
      return z.NEVER;
    }
  };

function templateSegments(value: string): string[] {
  const segments = value.split(SEPARATORS).filter((s) => s !== '');
  if (segments.some((s) => s.trim() === '.' || s.trim() === '..')) throw new Refusal("must not contain '.' or '..' segments");
  return segments;
}

/** The template's own text of one name (a folder segment or the file name) against the SMB and Azure Files rules. */
function checkSmbText(template: string): void {
  if (SMB_FORBIDDEN_TEXT.test(literalText(template)))
    throw new Refusal('must not contain " * : < > ? | (SMB and Azure Files do not allow them in names)');
  const variables = findVariables(template);
  const endsWithVariable = variables.at(-1)?.end === template.length;
  if (!endsWithVariable && /[. ]$/.test(template))
    throw new Refusal(`: "${template}" must not end with a dot or a space (SMB and Azure Files do not allow it)`);
  if (variables.length === 0 && SMB_RESERVED.test(template)) {
    throw new Refusal(
      `: "${template}" is a reserved name on SMB and Azure Files (CON, PRN, AUX, NUL, COM0-9, LPT0-9, CLOCK$, also with an extension)`,
    );
  }
}

/** basePath → the fixed root and the segment templates below it. */
function splitBasePath(basePath: string): { basePath: string; root: string; baseSegments: string[] } {
  const first = findVariables(basePath)[0]?.start ?? -1;
  let root: string;
  let rest: string;
  if (first < 0) {
    root = basePath;
    rest = '';
  } else {
    const prefix = basePath.slice(0, first);
    const cut = Math.max(prefix.lastIndexOf('/'), prefix.lastIndexOf('\\'));
    root = cut < 0 ? '' : prefix.slice(0, cut + 1);
    rest = basePath.slice(cut + 1);
  }
  if (root === '' || !path.isAbsolute(root))
    throw new Refusal('must be an absolute path whose part before the first variable is a fixed folder (e.g. "/mounts/scans/%userHome%")');
  templateSegments(root);
  const baseSegments = templateSegments(rest);
  for (const s of baseSegments) {
    if (s.includes(USER_HOME) && s !== USER_HOME)
      throw new Refusal(': %userHome% must be a whole path segment (e.g. "/mounts/scans/%userHome%/Scans")');
    // The root exists already (whatever its name); what is below it is created on the share.
    checkSmbText(s);
  }
  return { basePath, root: path.resolve(root), baseSegments };
}

const noControl = { check: (v: string) => !CONTROL.test(v), error: 'must not contain control characters' } as const;

export const fileShareOptionsSchema = z
  .object(
    {
      basePath: text('must be a non-empty absolute path template')
        .refine(noControl.check, { error: noControl.error })
        .transform(checked(splitBasePath))
        .meta({
          description:
            'An absolute path *template*, e.g. `/mounts/home/%userHome%/Scans`. The part before the first variable is the fixed root, which must exist. `%userHome%` must be a whole segment; its value is a path (`/home/alice`, `\\\\fs01\\home\\alice`) placed as a sub-path under the root.',
        }),
      folder: z
        .string({ error: 'must be a path template string' })
        .refine(noControl.check, { error: noControl.error })
        .default('')
        .transform(
          checked((folder) => {
            const segments = templateSegments(folder);
            for (const s of segments) checkSmbText(s);
            return segments;
          }),
        )
        .meta({ description: 'Sub-folders below `basePath`, `/`-separated: a *template*, each value one path segment.' }),
      fileName: text('must be a non-empty file name template')
        .refine((v) => !SEPARATORS.test(v) && !CONTROL.test(v), { error: 'must not contain path separators or control characters' })
        .refine((v) => v.trim() !== '.' && v.trim() !== '..', { error: 'must not be "." or ".."' })
        .transform(checked((fileName) => (checkSmbText(fileName), fileName)))
        .optional()
        .meta({ description: "A file name *template* (see [Templates](#templates)); without it, the sender's file name." }),
      conflictBehavior: z
        .enum(['fail', 'replace', 'keepBoth'], { error: 'must be "fail", "replace" or "keepBoth"' })
        .default('keepBoth')
        .meta({
          description:
            'When a file of that name exists: `keepBoth` (`name 1.pdf`), `replace` (atomic), `fail` (the destination fails, the file is untouched).',
        }),
      createFolders: flag()
        .default(true)
        .meta({ description: 'Create missing folders below the root; with `false` a missing folder fails the destination.' }),
    },
    { error: 'must be an object' },
  )
  .transform(({ basePath, folder, ...o }) => ({ ...basePath, folderSegments: folder, ...o }));

export type FileShareOptions = z.output<typeof fileShareOptionsSchema>;
export type ConflictBehavior = FileShareOptions['conflictBehavior'];
