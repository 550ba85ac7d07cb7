/**
 * The options OneDrive and SharePoint destinations share, as zod schema fields: the folder, the
 * file name and what happens when a file of that name exists (see graph/drive.ts). `append` adds
 * pages to one PDF document, so it needs a `fileName` ending in .pdf where one is given; SharePoint
 * also refuses it without one (sharePoint/options.ts).
 */
import { z } from 'zod';
import { CONFLICT_BEHAVIORS, type ConflictBehavior } from './graph';

const folder = () =>
  z
    .string({ error: 'must be a string (a template such as "Scans/%deviceName%")' })
    .refine((v) => !v.split('/').some((s) => s.trim() === '.' || s.trim() === '..'), {
      error: 'must not contain "." or ".." segments',
    })
    .default('')
    .meta({ description: "A folder *template* below the drive's root, `/`-separated; missing folders are created." });

const fileName = () =>
  z
    .string({ error: 'must be a non-empty template without "/" or "\\"' })
    .refine((v) => v.trim() !== '' && !/[\\/]/.test(v), { error: 'must be a non-empty template without "/" or "\\"' })
    .optional()
    .meta({ description: "A file name *template* (see [Templates](#templates)); without it, the sender's file name." });

const MEANINGS: Readonly<Record<ConflictBehavior, string>> = {
  keepBoth: '`keepBoth`: the new file gets a free name (`name 1.pdf`)',
  replace: '`replace`: a new version of the existing file',
  fail: '`fail`: the destination fails, the existing file is untouched',
  append: '`append`: the new pages are added to the end of the existing PDF (see below)',
};

/** `folder`, `fileName` and `conflictBehavior`, the last one of `allowed` (all of them by default). */
export function driveFolderFields(allowed: readonly [ConflictBehavior, ...ConflictBehavior[]] = CONFLICT_BEHAVIORS) {
  return {
    folder: folder(),
    fileName: fileName(),
    conflictBehavior: z
      .enum(allowed, { error: `must be one of: ${allowed.join(', ')}` })
      .default('keepBoth')
      .meta({ description: `When a file of that name exists: ${allowed.map((b) => MEANINGS[b]).join('; ')}.` }),
  };
}

/** `append` names one PDF document: a `fileName` given must end in .pdf. */
export function checkAppend(o: { fileName?: string; conflictBehavior: ConflictBehavior }, ctx: z.RefinementCtx): void {
  if (o.conflictBehavior === 'append' && o.fileName !== undefined && !/\.pdf$/i.test(o.fileName)) {
    ctx.addIssue({
      code: 'custom',
      path: ['fileName'],
      message: 'must end in .pdf: "conflictBehavior": "append" works for PDF documents only',
    });
  }
}
