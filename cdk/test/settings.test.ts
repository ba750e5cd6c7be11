/** The settings and the rendition grammar against `contract/settings.json` and `contract/renditions.json`. */
import {
  IntegerSettingContract,
  InvalidRenditionCase,
  RENDITIONS,
  RenditionListCase,
  SETTINGS,
  TextSettingContract,
  ValidRenditionCase,
} from '../lib/contract';
import { DEFAULT_SETTINGS, checkRenditions, parseRendition, parseSettings } from '../lib/settings';

const specs = Object.entries(SETTINGS.settings);

describe('settings from the contract', () => {
  test('the defaults are the contract defaults, one for each contract setting', () => {
    const defaults = Object.fromEntries(specs.map(([name, setting]) => [name, setting.default]));
    expect(DEFAULT_SETTINGS).toEqual(defaults);
  });

  const integers = specs.filter((entry): entry is [string, IntegerSettingContract] => 'min' in entry[1]);
  test('the contract has whole-number settings', () => {
    expect(integers.map(([name]) => name).sort()).toEqual(['maxBytes', 'maxPixels', 'noncurrentVersionDays']);
  });
  test.each(integers)('%s: the contract bounds are accepted, one outside them refused', (name, { min, max }) => {
    expect(parseSettings({ [name]: min })).toMatchObject({ [name]: min });
    expect(parseSettings({ [name]: max })).toMatchObject({ [name]: max });
    const message = `photopipe setting ${name} must be a whole number from ${min} to ${max}`;
    expect(() => parseSettings({ [name]: min - 1 })).toThrow(message);
    expect(() => parseSettings({ [name]: max + 1 })).toThrow(message);
    expect(() => parseSettings({ [name]: min + 0.5 })).toThrow(message);
  });

  const texts = specs.filter((entry): entry is [string, TextSettingContract] => 'pattern' in entry[1]);
  test.each(texts)('%s: refused unless it matches the contract pattern, saying what it must be', (name, { pattern, what }) => {
    const bad = 'Not a Value!';
    expect(new RegExp(pattern).test(bad)).toBe(false);
    expect(() => parseSettings({ [name]: bad })).toThrow(`photopipe setting ${name} must be ${what}, got "Not a Value!"`);
  });

  test('a setting the contract does not know is refused, even one every object has', () => {
    expect(() => parseSettings({ toString: 'x' })).toThrow(/unknown photopipe setting\(s\): toString/);
  });
});

type RenditionCase = ['valid', ValidRenditionCase] | ['invalid', InvalidRenditionCase] | ['list', RenditionListCase];
const renditionCases: [string, ...RenditionCase][] = [
  ...RENDITIONS.valid.map((c): [string, ...RenditionCase] => [JSON.stringify(c.spec), 'valid', c]),
  ...RENDITIONS.invalid.map((c): [string, ...RenditionCase] => [JSON.stringify(c.spec), 'invalid', c]),
  ...RENDITIONS.lists.map((c): [string, ...RenditionCase] => [JSON.stringify(c.specs), 'list', c]),
];

describe('rendition grammar of contract/renditions.json', () => {
  test('has cases of each kind', () => {
    expect(RENDITIONS.valid.length).toBeGreaterThan(0);
    expect(RENDITIONS.invalid.length).toBeGreaterThan(0);
    expect(RENDITIONS.lists.length).toBeGreaterThan(0);
  });

  test.each(renditionCases)('%s (%s)', (_, kind, c) => {
    switch (kind) {
      case 'valid': {
        const { spec: given, ...expected } = c as ValidRenditionCase;
        expect(parseRendition(given)).toEqual(expected);
        expect(checkRenditions([given])).toEqual([expected]);
        // The canonical spelling means the same rendition.
        expect(parseRendition(expected.canonical)).toEqual(expected);
        break;
      }
      case 'invalid': {
        const { spec: given, error } = c as InvalidRenditionCase;
        expect(() => parseRendition(given)).toThrow(error);
        expect(() => checkRenditions([given])).toThrow(error);
        expect(() => parseSettings({ thumbnailRenditions: [given] })).toThrow(`photopipe thumbnail rendition ${JSON.stringify(given)}: ${error}`);
        break;
      }
      case 'list': {
        const { specs, labels, error } = c as RenditionListCase;
        if (error === undefined) {
          expect(checkRenditions(specs).map((r) => r.label)).toEqual(labels);
          expect(parseSettings({ thumbnailRenditions: specs }).thumbnailRenditions).toEqual(specs);
        } else {
          expect(() => checkRenditions(specs)).toThrow(error);
          expect(() => parseSettings({ thumbnailRenditions: specs })).toThrow(`thumbnail renditions ${JSON.stringify(specs)}: ${error}`);
        }
        break;
      }
    }
  });
});
