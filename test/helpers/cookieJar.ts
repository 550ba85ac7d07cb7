/** A browser's cookie jar, just enough for the console's HTTP tests: names and values, Max-Age=0 deletes. */
import { httpRequest, type HttpResult } from './http';

export class CookieJar {
  private readonly values = new Map<string, string>();

  /** Takes the Set-Cookie headers of an answer. */
  update(result: HttpResult): void {
    const header = result.headers['set-cookie'];
    for (const line of Array.isArray(header) ? header : header ? [header] : []) {
      const [pair, ...attrs] = line.split(';');
      const i = pair!.indexOf('=');
      const name = pair!.slice(0, i).trim();
      const value = pair!.slice(i + 1).trim();
      if (attrs.some((a) => /^\s*max-age=0\s*$/i.test(a)) || value === '') this.values.delete(name);
      else this.values.set(name, value);
    }
  }

  get(name: string): string | undefined {
    return this.values.get(name);
  }

  set(name: string, value: string): void {
    this.values.set(name, value);
  }

  header(): string {
    return [...this.values].map(([k, v]) => `${k}=${v}`).join('; ');
  }

  /** A request with the jar's cookies; the answer's cookies go into the jar. */
  async request(
    url: string,
    options: { method?: string; headers?: Record<string, string>; form?: Record<string, string>; json?: unknown } = {},
  ): Promise<HttpResult> {
    const headers: Record<string, string> = { ...(this.values.size ? { cookie: this.header() } : {}), ...options.headers };
    let body: Buffer | undefined;
    if (options.form) {
      body = Buffer.from(new URLSearchParams(options.form).toString());
      headers['content-type'] = 'application/x-www-form-urlencoded';
    } else if (options.json !== undefined) {
      body = Buffer.from(JSON.stringify(options.json));
      headers['content-type'] = 'application/json';
    }
    const result = await httpRequest(url, { method: options.method ?? (body ? 'POST' : 'GET'), headers, body });
    this.update(result);
    return result;
  }
}

/** The value of a hidden form field named `name` in an HTML page (the CSRF token). */
export function hiddenField(page: string, name: string): string {
  const m = new RegExp(`<input type="hidden" name="${name}" value="([^"]*)"`).exec(page);
  if (!m) throw new Error(`no hidden field ${name} on the page`);
  return m[1]!.replace(/&amp;/g, '&');
}
