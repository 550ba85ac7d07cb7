/** Every connector, by the `type` a destination names. */
import { graphMailConnector } from './graphMail';
import { httpForwardConnector } from './httpForward';
import { smtpConnector } from './smtp';
import type { Connector } from './types';

export const CONNECTORS: Readonly<Record<string, Connector>> = {
  [graphMailConnector.type]: graphMailConnector as Connector,
  [httpForwardConnector.type]: httpForwardConnector as Connector,
  [smtpConnector.type]: smtpConnector as Connector,
};
