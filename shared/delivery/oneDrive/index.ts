/**
 * OneDrive for Business: the job's files into a folder of a user's OneDrive.
 *
 * - `auth: "delegated"` (default): the drive of the account that authorized `connectionId` (a
 *   connection of type oneDrive, Files.ReadWrite), `/me/drive`.
 * - `auth: "application"`: the app registration's own token (client credentials, application
 *   permissions User.Read.All + Files.ReadWrite.All) and the drive of the user `user` names
 *   (a template, default `%userEmail%`: the user principal name the printer sent), `/users/{user}/drive`.
 *
 * `folder` and `fileName` are templates (values escaped as OneDrive names); `conflictBehavior`
 * is fail, replace or keepBoth (default). Large files go through an upload session.
 */
import { parseOptions } from '../options';
import { previewFileNames, previewTemplate } from '../preview';
import { renderTemplate } from '../template';
import { PermanentDeliveryError, type Connector } from '../types';
import { deliverToDrive, drivePace, graphFor, renderFolder, type GraphAuth } from '../graph';
import { oneDriveOptionsSchema, type OneDriveOptions } from './options';

export { oneDriveOptionsSchema, type OneDriveOptions } from './options';

const UPN = /^[^@\s/\\?#%]+@[^@\s/\\?#%]+$/;

export const oneDriveConnector: Connector<OneDriveOptions> = {
  type: 'oneDrive',
  optionsSchema: oneDriveOptionsSchema,
  parseOptions: (raw) => parseOptions(oneDriveOptionsSchema, raw),

  preview: (job, o) => [
    ...(o.auth === 'application' ? previewTemplate('user', o.user, () => renderUser(o.user, job.fields)) : []),
    ...previewTemplate('folder', o.folder, () => renderFolder(o.folder, job.fields).join('/')),
    ...previewFileNames(job, o.fileName),
  ],

  pace: drivePace,

  async deliver(job, options, context) {
    let drivePath = '/me/drive';
    let auth: GraphAuth = { kind: 'application' };
    if (options.auth === 'delegated') auth = { kind: 'delegated', connectionId: options.connectionId };
    else drivePath = `/users/${encodeURIComponent(renderUser(options.user, job.fields))}/drive`;
    const items = await deliverToDrive(graphFor(context, auth), drivePath, job, options);
    return { remoteId: items.join('; ') };
  },
};

/** The user whose drive it is: the template must render to a user principal name. */
function renderUser(template: string, fields: Readonly<Record<string, string>>): string {
  const user = renderTemplate(template, fields, 'header');
  if (!UPN.test(user))
    throw new PermanentDeliveryError('invalid_address', `"user" rendered to '${user.slice(0, 100)}', which is not a user principal name.`);
  return user;
}
