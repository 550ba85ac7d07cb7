/** Every connector, by the `type` a destination names. */
import { fileShareConnector } from './fileShare';
import { graphMailConnector } from './graphMail';
import { httpForwardConnector } from './httpForward';
import { oneDriveConnector } from './oneDrive';
import { sharePointConnector } from './sharePoint';
import { smtpConnector } from './smtp';
import type { Connector } from './types';

export const CONNECTORS: Readonly<Record<string, Connector>> = {
  [fileShareConnector.type]: fileShareConnector as Connector,
  [graphMailConnector.type]: graphMailConnector as Connector,
  [httpForwardConnector.type]: httpForwardConnector as Connector,
  [oneDriveConnector.type]: oneDriveConnector as Connector,
  [sharePointConnector.type]: sharePointConnector as Connector,
  [smtpConnector.type]: smtpConnector as Connector,
};
