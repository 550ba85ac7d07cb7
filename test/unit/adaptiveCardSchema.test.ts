// The Adaptive Card check the tests use (test/helpers/adaptiveCard.ts): valid cards pass, and each
// kind of mistake is found, at its path, against the official schema of the card's version.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { adaptiveCardProblems } from '../helpers/adaptiveCard';

const textBlock = { type: 'TextBlock', text: 'Scan delivered', weight: 'Bolder', size: 'Medium', color: 'Accent', wrap: true };
const factSet = {
  type: 'FactSet',
  facts: [
    { title: 'Device', value: 'MFP-2nd-floor' },
    { title: 'Pages', value: '3' },
  ],
};
const openUrl = { type: 'Action.OpenUrl', title: 'Open the folder', url: 'https://contoso.sharepoint.com/sites/scans/Shared%20Documents' };

function card(body: unknown[], actions: unknown[] = [openUrl], version = '1.4'): Record<string, unknown> {
  return { type: 'AdaptiveCard', $schema: 'http://adaptivecards.io/schemas/adaptive-card.json', version, body, actions };
}

const elementTypes14 =
  'ActionSet, ColumnSet, Container, FactSet, Image, ImageSet, Input.ChoiceSet, Input.Date, Input.Number, Input.Text, Input.Time, Input.Toggle, Media, RichTextBlock, TextBlock';

describe('adaptiveCardProblems', () => {
  it('passes a valid 1.4 card: TextBlock with weight, size, color and wrap; FactSet; Action.OpenUrl', () => {
    expect(adaptiveCardProblems(card([textBlock, factSet]))).toEqual([]);
    // Enum values are case-insensitive in the schema.
    expect(adaptiveCardProblems(card([{ ...textBlock, weight: 'bolder', color: 'attention' }]))).toEqual([]);
  });

  it('finds a TextBlock without text', () => {
    expect(adaptiveCardProblems(card([factSet, { type: 'TextBlock', wrap: true }]))).toEqual([
      "/body/1: must have required property 'text'",
    ]);
  });

  it('finds an element type the version does not have, naming those it does', () => {
    expect(adaptiveCardProblems(card([textBlock, { type: 'Marquee', text: 'Hello' }]))).toEqual([
      `/body/1/type: unknown type "Marquee"; Adaptive Card 1.4 allows here ${elementTypes14}`,
    ]);
    expect(adaptiveCardProblems(card([{ text: 'Hello' }]))).toEqual([
      `/body/0: must have required property 'type' (one of ${elementTypes14})`,
    ]);
  });

  it('finds a color that is not one of the schema colors', () => {
    const problems = adaptiveCardProblems(card([{ ...textBlock, color: 'purple' }]));
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(
      /^\/body\/0\/color: must be equal to one of the allowed values \(default, dark, light, accent, good, warning, attention\) or must match pattern /,
    );
  });

  it('finds a FactSet fact without a value', () => {
    const facts = [{ title: 'Device', value: 'MFP-2nd-floor' }, { title: 'Pages' }];
    expect(adaptiveCardProblems(card([textBlock, { type: 'FactSet', facts }]))).toEqual([
      "/body/1/facts/1: must have required property 'value'",
    ]);
  });

  it('finds an Action.OpenUrl without a url, and one whose url is not a URI reference', () => {
    expect(adaptiveCardProblems(card([textBlock], [{ type: 'Action.OpenUrl', title: 'Open' }]))).toEqual([
      "/actions/0: must have required property 'url'",
    ]);
    expect(adaptiveCardProblems(card([textBlock], [{ ...openUrl, url: 'https://contoso.example/a folder/<scan>' }]))).toEqual([
      '/actions/0/url: must match format "uri-reference"',
    ]);
  });

  it('finds a property the element does not have', () => {
    expect(adaptiveCardProblems(card([{ ...textBlock, url: 'https://contoso.example/' }]))).toEqual([
      "/body/0: must NOT have additional property 'url'",
    ]);
    expect(adaptiveCardProblems({ ...card([textBlock]), summary: 'x' })).toEqual(["(root): must NOT have additional property 'summary'"]);
  });

  it('finds every problem of a card, nested ones at their paths', () => {
    const container = { type: 'Container', items: [textBlock, { type: 'TextBlock' }, { type: 'Image' }] };
    const showCard = {
      type: 'Action.ShowCard',
      title: 'More',
      card: { type: 'AdaptiveCard', body: [{ type: 'FactSet', facts: [{ value: '3' }] }] },
    };
    expect(adaptiveCardProblems(card([container, { type: 'Marquee' }], [showCard, { type: 'Action.OpenUrl' }]))).toEqual([
      "/body/0/items/1: must have required property 'text'",
      "/body/0/items/2: must have required property 'url'",
      `/body/1/type: unknown type "Marquee"; Adaptive Card 1.4 allows here ${elementTypes14}`,
      "/actions/0/card/body/0/facts/0: must have required property 'title'",
      "/actions/1: must have required property 'url'",
    ]);
  });

  it('checks a card against the schema of the version it declares', () => {
    const table = {
      type: 'Table',
      columns: [{ width: 1 }, { width: 2 }],
      rows: [{ type: 'TableRow', cells: [{ type: 'TableCell', items: [textBlock] }] }],
    };
    expect(adaptiveCardProblems(card([textBlock, table], [openUrl], '1.5'))).toEqual([]);
    expect(adaptiveCardProblems(card([textBlock, factSet], [openUrl], '1.5'))).toEqual([]);
    // Table came in 1.5.
    expect(adaptiveCardProblems(card([textBlock, table], [openUrl], '1.4'))).toEqual([
      `/body/1/type: unknown type "Table"; Adaptive Card 1.4 allows here ${elementTypes14}`,
    ]);
    const badCell = { ...table, rows: [{ type: 'TableRow', cells: [{ type: 'TableCell', items: [{ type: 'TextBlock' }] }] }] };
    expect(adaptiveCardProblems(card([badCell], [openUrl], '1.5'))).toEqual([
      "/body/0/rows/0/cells/0/items/0: must have required property 'text'",
    ]);
  });

  it('finds a missing or unknown version, naming the known ones', () => {
    const { version: _version, ...unversioned } = card([textBlock]);
    expect(adaptiveCardProblems(unversioned)).toEqual(['/version: missing: an Adaptive Card must say its version (known here: 1.4, 1.5)']);
    expect(adaptiveCardProblems(card([textBlock], [openUrl], '1.3'))).toEqual([
      '/version: unknown Adaptive Card version "1.3" (known here: 1.4, 1.5)',
    ]);
    expect(adaptiveCardProblems({ ...card([textBlock]), version: 1.4 })).toEqual([
      '/version: unknown Adaptive Card version 1.4 (known here: 1.4, 1.5)',
    ]);
    expect(adaptiveCardProblems(null)).toEqual(['(root): must be an object (an Adaptive Card)']);
  });

  it('uses the schema files as published (git blob hashes of microsoft/AdaptiveCards schemas/1.x.0/adaptive-card.json)', () => {
    const blob = (file: string) => {
      const bytes = readFileSync(join(__dirname, '..', 'fixtures', 'adaptiveCards', file));
      return createHash('sha1').update(`blob ${bytes.length}\0`).update(bytes).digest('hex');
    };
    expect(blob('adaptive-card-1.4.json')).toBe('a65f7af69e84f7fddd39880a29115da427ed5e58');
    expect(blob('adaptive-card-1.5.json')).toBe('8301d0efef25d6626b52d6e38b20dc81dc59502e');
  });
});
