/** Writes infra/scanrelay.generated.json (see scanRelayFacts.ts). */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { GENERATED_FILE, renderScanRelayFacts } from './scanRelayFacts';

const target = join(__dirname, '..', '..', '..', GENERATED_FILE);
writeFileSync(target, renderScanRelayFacts());
console.log(`wrote ${target}`);
