/** `npm run docs`: regenerates the documentation that is generated from code. */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { renderOptionTables } from '../shared/delivery';
import { renderErrorsDoc } from '../shared/errors';
import { renderSourceOptionsDoc } from '../shared/mailbox/sourceDoc';
import { renderNotificationsDoc } from '../shared/notifications/channelDoc';
import { renderPermissionsDoc } from '../shared/oauth';

const root = join(__dirname, '..', '..');
// Each renderer is given the file as it is: docs/destinations.md, docs/mailbox-ingest.md and docs/notifications.md keep their prose around the tables.
for (const [name, render] of [
  ['permissions.md', renderPermissionsDoc],
  ['errors.md', renderErrorsDoc],
  ['destinations.md', renderOptionTables],
  ['mailbox-ingest.md', renderSourceOptionsDoc],
  ['notifications.md', renderNotificationsDoc],
] as const) {
  const target = join(root, 'docs', name);
  writeFileSync(target, render(readFileSync(target, 'utf8')));
  console.log(`wrote ${target}`);
}
