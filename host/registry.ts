/**
 * The one list of ScanRelay's functions. The Azure Functions host (host/azure.ts) and the
 * local host (host/local) both read it, so they can never disagree.
 */
import { health } from '../functions/health';
import { scan } from '../functions/scan';
import type { FunctionDefinition } from './definitions';

export const registry: readonly FunctionDefinition[] = [health, scan];
