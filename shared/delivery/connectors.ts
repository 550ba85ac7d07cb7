/** Every connector, by the `type` a destination names. */
import { fileShareConnector } from './fileShare';
import { graphMailConnector } from './graphMail';
import { httpForwardConnector } from './httpForward';
import { oneDriveConnector } from './oneDrive';
import { sharePointConnector } from './sharePoint';
import { smtpConnector } from './smtp';
import type { Connector } from './types';

export const CONNECTORS: Readonly<Record<string, Connector>> = {
  [fileShareConnector.type]: fileShareConnector,
  [graphMailConnector.type]: graphMailConnector,
  [httpForwardConnector.type]: httpForwardConnector,
  [oneDriveConnector.type]: oneDriveConnector,
  [sharePointConnector.type]: sharePointConnector,
  [smtpConnector.type]: smtpConnector,
};
