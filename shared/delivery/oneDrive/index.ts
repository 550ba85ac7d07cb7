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
import { renderTemplate } from '../template';
import { PermanentDeliveryError, type Connector } from '../types';
import { deliverToDrive, graphFor, parseConnectionId, parseDriveFolderOptions, type DriveFolderOptions, type GraphAuth } from '../graph';

export type OneDriveOptions = DriveFolderOptions & ({ auth: 'delegated'; connectionId: string } | { auth: 'application'; user: string });

const UPN = /^[^@\s/\\?#%]+@[^@\s/\\?#%]+$/;

export const oneDriveConnector: Connector<OneDriveOptions> = {
  type: 'oneDrive',
  parseOptions(raw) {
    const o = (raw ?? {}) as Record<string, unknown>;
    const folder = parseDriveFolderOptions(o, ['fail', 'replace', 'keepBoth']);
    const auth = o.auth ?? 'delegated';
    if (auth === 'delegated') {
      if (o.user !== undefined)
        throw new Error('"user" is for "auth": "application"; a delegated destination uploads to the authorized account\'s own drive.');
      return { ...folder, auth, connectionId: parseConnectionId(o) };
    }
    if (auth === 'application') {
      if (o.connectionId !== undefined)
        throw new Error('"connectionId" is for "auth": "delegated"; "application" uses the app registration\'s own permissions.');
      const user = o.user ?? '%userEmail%';
      if (typeof user !== 'string' || user.trim() === '') throw new Error('"user" must be a template naming the user, e.g. "%userEmail%".');
      return { ...folder, auth, user };
    }
    throw new Error('"auth" must be "delegated" or "application".');
  },

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
