/** Reads delivery queue messages as the Functions host binds them (base64 of the JSON). */
import type { DeliveryMessage } from '../../shared/storage';

export function decodeMessage(text: string): DeliveryMessage {
  return JSON.parse(Buffer.from(text, 'base64').toString('utf8')) as DeliveryMessage;
}
