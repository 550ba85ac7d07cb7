/**
 * The options of a `sharePoint` destination, as a zod schema: the connection, the site and its
 * document library, and the folder options it shares with OneDrive (../driveOptions.ts).
 * `append` adds pages to one fixed PDF document, so it needs a `fileName` ending in .pdf.
 */
import { z } from 'zod';
import { checkAppend, driveFolderFields } from '../driveOptions';
import { connectionId, text } from '../options';

const SITE_URL = "must be the site's URL, e.g. https://contoso.sharepoint.com/sites/Scans";

export const sharePointOptionsSchema = z
  .object(
    {
      connectionId: connectionId().meta({ description: 'An authorized connection of type `sharePoint` (`Sites.ReadWrite.All`).' }),
      site: z
        .string({ error: SITE_URL })
        .transform((v, ctx) => {
          let site: URL;
          try {
            site = new URL(v);
          } catch {
            ctx.addIssue({ code: 'custom', message: SITE_URL });
            return z.NEVER;
          }
          if (site.protocol !== 'https:' || site.search || site.hash || site.username) {
            ctx.addIssue({ code: 'custom', message: 'must be an https:// site URL without query or credentials' });
            return z.NEVER;
          }
          return site;
        })
        .meta({ description: "The site's URL, e.g. `https://contoso.sharepoint.com/sites/Scans`." }),
      library: text('must be the document library\'s name, e.g. "Documents"')
        .default('Documents')
        .meta({ description: "The document library's name as SharePoint shows it." }),
      ...driveFolderFields(),
    },
    { error: 'must be an object' },
  )
  .superRefine((o, ctx) => {
    if (o.conflictBehavior === 'append' && o.fileName === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['conflictBehavior'],
        message: ': "append" needs a "fileName" ending in .pdf (the document the pages are added to), e.g. "%username% scans.pdf"',
      });
    }
    checkAppend(o, ctx);
  });

export type SharePointOptions = z.output<typeof sharePointOptionsSchema>;
