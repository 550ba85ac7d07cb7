/**
 * A one-time message for the next page ("Destination saved", the outcome of an authorization):
 * a short-lived cookie sealed with the TokenCipher, read and cleared by the next console page.
 */
import { consoleCookie, readCookie, type SetCookie } from '../access';
import { TokenDecryptError, type TokenCipher } from '../oauth/tokenCipher';
import type { Flash } from './layout';

const FLASH_COOKIE = '__Host-scanrelay-flash';
const CONTEXT = 'console-flash';

const cookie = (value: string, maxAge: number): SetCookie => consoleCookie(FLASH_COOKIE, value, maxAge);

export async function flashCookie(cipher: TokenCipher, flash: Flash): Promise<SetCookie> {
  return cookie(await cipher.encrypt(JSON.stringify({ kind: flash.kind, text: flash.text.slice(0, 1500) }), CONTEXT), 120);
}

/** The message a request carries (if genuine), and the cookie that clears it. */
export async function takeFlash(cipher: TokenCipher, cookieHeader: string | null): Promise<{ flash?: Flash; clear?: SetCookie }> {
  const value = readCookie(cookieHeader, FLASH_COOKIE);
  if (!value) return {};
  try {
    const parsed = JSON.parse(await cipher.decrypt(value, CONTEXT)) as Flash;
    if ((parsed.kind === 'ok' || parsed.kind === 'bad') && typeof parsed.text === 'string') {
      return { flash: { kind: parsed.kind, text: parsed.text }, clear: cookie('', 0) };
    }
  } catch (err) {
    if (!(err instanceof TokenDecryptError) && !(err instanceof SyntaxError)) throw err;
  }
  return { clear: cookie('', 0) };
}
