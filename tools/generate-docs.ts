/** `npm run docs`: regenerates the documentation that is generated from code. */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { renderErrorsDoc } from '../shared/errors';
import { renderPermissionsDoc } from '../shared/oauth';

const root = join(__dirname, '..', '..');
for (const [name, render] of [
  ['permissions.md', renderPermissionsDoc],
  ['errors.md', renderErrorsDoc],
] as const) {
  const target = join(root, 'docs', name);
  writeFileSync(target, render());
  console.log(`wrote ${target}`);
}
