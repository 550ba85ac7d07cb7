/** `npm run docs`: regenerates the documentation that is generated from code. */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { renderPermissionsDoc } from '../shared/oauth/permissionsDoc';

const root = join(__dirname, '..', '..');
const target = join(root, 'docs', 'permissions.md');
writeFileSync(target, renderPermissionsDoc());
console.log(`wrote ${target}`);
