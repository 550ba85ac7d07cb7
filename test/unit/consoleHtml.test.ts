/** The console's html template: every value escaped, URLs checked, no value in script or handlers. */
import { html, raw, safeUrl } from '../../shared/console/html';

describe('html', () => {
  it('escapes text in content and attributes', () => {
    const name = `<img src=x onerror="alert(1)">&'`;
    expect(html`<p title="${name}">${name}</p>`.value).toBe(
      '<p title="&lt;img src=x onerror=&quot;alert(1)&quot;&gt;&amp;&#39;">&lt;img src=x onerror=&quot;alert(1)&quot;&gt;&amp;&#39;</p>',
    );
  });

  it('keeps fragments and joins arrays; leaves out undefined, null and false', () => {
    const items = ['a<', 'b'].map((x) => html`<li>${x}</li>`);
    expect(
      html`<ul>
          ${items}
        </ul>
        ${undefined}${null}${false}${0}`.value.replace(/\s+/g, ''),
    ).toBe('<ul><li>a&lt;</li><li>b</li></ul>0');
    expect(html`${raw('<br>')}`.value).toBe('<br>');
  });

  it.each([
    ['javascript:alert(1)', '#'],
    ['  JavaScript:alert(1)', '#'],
    ['data:text/html,<script>', '#'],
    ['//evil.example/x', '#'],
    ['/\\evil.example', '#'],
    ['vbscript:x', '#'],
    ['/api/console/jobs?x=1&y=2', '/api/console/jobs?x=1&amp;y=2'],
    ['https://contoso.sharepoint.com/a b', 'https://contoso.sharepoint.com/a b'],
  ])('a URL attribute with %j becomes %j', (url, shown) => {
    expect(html`<a href="${url}">x</a>`.value).toBe(`<a href="${shown}">x</a>`);
    expect(html`<form action="${url}"></form>`.value).toBe(`<form action="${shown}"></form>`);
  });

  it('refuses values in event handlers, style attributes, <script> and <style>', () => {
    expect(() => html`<a onclick="${'x'}"></a>`).toThrow(/event handlers/);
    expect(() => html`<p style="${'color:red'}"></p>`).toThrow();
    expect(
      () =>
        html`<script>
          var x = ${'1'};
        </script>`,
    ).toThrow();
    expect(
      () =>
        html`<style>
          ${'p{}'}
        </style>`,
    ).toThrow();
    // Attributes of the script element itself are not its content.
    expect(
      html`<script src="${'/a.js'}"></script>
        <p>${'after'}</p>`.value.replace(/>\s+</g, '><'),
    ).toBe('<script src="/a.js"></script><p>after</p>');
  });

  it('refuses objects (a forgotten field would print [object Object])', () => {
    expect(() => html`<p>${{ a: 1 }}</p>`).toThrow(/only text/);
    expect(() => html`<a href="${html`<b></b>`}"></a>`).toThrow();
  });

  it('safeUrl keeps paths, queries, fragments and http(s) only', () => {
    expect(['/x', '?a=1', '#top', 'http://a.example', 'https://b.example/p'].map(safeUrl)).toEqual([
      '/x',
      '?a=1',
      '#top',
      'http://a.example',
      'https://b.example/p',
    ]);
    expect(['mailto:a@b', 'ftp://x', 'x/y', ''].map(safeUrl)).toEqual(['#', '#', '#', '#']);
  });
});
