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
import { renderTemplate } from '../template';
import { PermanentDeliveryError, type Connector } from '../types';
import { deliverToDrive, graphFor, type GraphAuth } from '../graph';
import { oneDriveOptionsSchema, type OneDriveOptions } from './options';

export { oneDriveOptionsSchema, type OneDriveOptions } from './options';

const UPN = /^[^@\s/\\?#%]+@[^@\s/\\?#%]+$/;

export const oneDriveConnector: Connector<OneDriveOptions> = {
  type: 'oneDrive',
  optionsSchema: oneDriveOptionsSchema,
  parseOptions: (raw) => parseOptions(oneDriveOptionsSchema, raw),

  async deliver(job, options, context) {
    let drivePath = '/me/drive';
    let auth: GraphAuth = { kind: 'application' };
    if (options.auth === 'delegated') auth = { kind: 'delegated', connectionId: options.connectionId };
    else {
      const user = renderTemplate(options.user, job.fields, 'header');
      if (!UPN.test(user))
        throw new PermanentDeliveryError(
          'invalid_address',
          `"user" rendered to '${user.slice(0, 100)}', which is not a user principal name.`,
        );
      drivePath = `/users/${encodeURIComponent(user)}/drive`;
    }
    const items = await deliverToDrive(graphFor(context, auth), drivePath, job, options);
    return { remoteId: items.join('; ') };
  },
};
