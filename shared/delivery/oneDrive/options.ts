/**
 * The options of a `oneDrive` destination, as a zod schema: whose drive (`auth`: the account of a
 * connection, or a user named by a template with the app's own permissions) and the folder options
 * it shares with SharePoint (../driveOptions.ts). Each option belongs to one `auth`: the other
 * one's is refused, not ignored.
 */
import { z } from 'zod';
import { driveFolderFields } from '../driveOptions';
import { connectionId, text } from '../options';

export const oneDriveOptionsSchema = z
  .object(
    {
      auth: z.enum(['delegated', 'application'], { error: 'must be "delegated" or "application"' }).default('delegated').meta({
        description:
          "`delegated`: the drive of the account that authorized `connectionId` (a connection of type `oneDrive`, `Files.ReadWrite`). `application`: the app registration's own token (client credentials; application permissions `User.Read.All` and `Files.ReadWrite.All`, admin-consented; `OAUTH_TENANT` must be your tenant ID) and the drive of the user named by `user`.",
      }),
      connectionId: connectionId().optional().meta({ description: 'With `delegated` (required there): the authorized connection.' }),
      user: text('must be a template naming the user, e.g. "%userEmail%"')
        .optional()
        .meta({ description: 'With `application`: a *template* naming the user by UPN; without it `%userEmail%`.' }),
      ...driveFolderFields(['fail', 'replace', 'keepBoth']),
    },
    { error: 'must be an object' },
  )
  .superRefine((o, ctx) => {
    const refuse = (path: string, message: string) => ctx.addIssue({ code: 'custom', path: [path], message });
    if (o.auth === 'delegated') {
      if (o.user !== undefined)
        refuse('user', 'is for "auth": "application"; a delegated destination uploads to the authorized account\'s own drive');
      else if (o.connectionId === undefined) refuse('connectionId', 'must name an authorized connection');
    } else if (o.connectionId !== undefined) {
      refuse('connectionId', 'is for "auth": "delegated"; "application" uses the app registration\'s own permissions');
    }
  })
  // connectionId is there for delegated: checked above.
  .transform(({ auth, connectionId, user, ...folder }) =>
    auth === 'delegated' ? { ...folder, auth, connectionId: connectionId! } : { ...folder, auth, user: user ?? '%userEmail%' },
  );

export type OneDriveOptions = z.output<typeof oneDriveOptionsSchema>;
