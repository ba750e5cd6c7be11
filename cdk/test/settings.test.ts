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
import { DEFAULT_SETTINGS, DEPLOYMENT_SETTINGS, LOG_RETENTION_DAYS, checkRenditions, parseRendition, parseSettings } from '../lib/settings';

const specs = Object.entries(SETTINGS.settings);

describe('settings from the contract', () => {
  test('the defaults are the contract defaults, one for each contract setting, and the deployment settings\' own', () => {
    const defaults = Object.fromEntries(specs.map(([name, setting]) => [name, setting.default]));
    const deployment = Object.fromEntries(
      Object.entries(DEPLOYMENT_SETTINGS).flatMap(([name, setting]) => ('default' in setting ? [[name, setting.default]] : [])),
    );
    expect(DEFAULT_SETTINGS).toEqual({ ...defaults, ...deployment });
    // No deployment setting shadows a contract one: the functions never read them.
    for (const name of Object.keys(DEPLOYMENT_SETTINGS)) expect([name, name in SETTINGS.settings]).toEqual([name, false]);
  });

  const integers = specs.filter((entry): entry is [string, IntegerSettingContract] => 'min' in entry[1]);
  test('the contract has whole-number settings', () => {
    expect(integers.map(([name]) => name).sort()).toEqual(['maxBytes', 'maxPixels', 'noncurrentVersionDays', 'wasabiRetentionDays']);
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

describe('deployment settings', () => {
  test('their defaults: no groups, no break-glass role, no execution data in the logs, 90 days of logs, no alarm e-mail, an hour of waiting, archive reserved 10', () => {
    const settings = parseSettings({});
    expect(settings).toMatchObject({ createGroups: false, logExecutionData: false, logRetentionDays: 90, maxWaitingMinutes: 60, reservedConcurrency: { archive: 10 } });
    expect(settings.breakGlassRoleArn).toBeUndefined();
    expect(settings.alarmEmail).toBeUndefined();
    // The default is copied, not shared: a caller changing it changes no other deployment.
    expect(DEFAULT_SETTINGS.reservedConcurrency).not.toBe(DEPLOYMENT_SETTINGS.reservedConcurrency.default);
  });

  test.each([
    [{ createGroups: true }],
    [{ logExecutionData: true }],
    [{ breakGlassRoleArn: 'arn:aws:iam::123456789012:role/break-glass' }],
    [{ breakGlassRoleArn: 'arn:aws-cn:iam::123456789012:role/ops/BreakGlass+1' }],
    [{ alarmEmail: 'ops+photopipe@example.com' }],
    [{ logRetentionDays: 1 }],
    [{ logRetentionDays: 3653 }],
    [{ maxWaitingMinutes: 5 }],
    [{ maxWaitingMinutes: 10080 }],
    [{ reservedConcurrency: {} }],
    [{ reservedConcurrency: { validate: 1, thumbnail: 50, archive: 1000, cleanup: 5 } }],
    [{ memoryMb: { validate: 128, thumbnail: 10240 } }],
  ])('%j is accepted as given', (raw) => {
    expect(parseSettings(raw)).toMatchObject(raw);
  });

  test('reservedConcurrency replaces the default whole: naming one function unsets archive\'s', () => {
    expect(parseSettings({ reservedConcurrency: { thumbnail: 20 } }).reservedConcurrency).toEqual({ thumbnail: 20 });
  });

  test('every CloudWatch Logs retention period is accepted, and nothing else', () => {
    for (const days of LOG_RETENTION_DAYS) expect(parseSettings({ logRetentionDays: days }).logRetentionDays).toBe(days);
    expect(LOG_RETENTION_DAYS).toContain(90);
  });

  test.each([
    [{ createGroups: 'yes' }, 'photopipe setting createGroups must be true or false, got "yes"'],
    [{ logExecutionData: 1 }, 'photopipe setting logExecutionData must be true or false, got 1'],
    [{ breakGlassRoleArn: 'arn:aws:iam::123456789012:user/alice' }, 'photopipe setting breakGlassRoleArn must be an IAM role ARN'],
    [{ breakGlassRoleArn: 'arn:aws:iam::12345:role/x' }, 'photopipe setting breakGlassRoleArn must be an IAM role ARN'],
    [{ breakGlassRoleArn: '' }, 'photopipe setting breakGlassRoleArn must be an IAM role ARN'],
    [{ breakGlassRoleArn: null }, 'photopipe setting breakGlassRoleArn must be an IAM role ARN'],
    [{ alarmEmail: 'ops' }, 'photopipe setting alarmEmail must be an e-mail address (or left out), got "ops"'],
    [{ logRetentionDays: 31 }, "photopipe setting logRetentionDays must be one of CloudWatch Logs' retention periods (1, 3, 5"],
    [{ logRetentionDays: '90' }, "photopipe setting logRetentionDays must be one of CloudWatch Logs' retention periods"],
    [{ maxWaitingMinutes: 4 }, 'photopipe setting maxWaitingMinutes must be a whole number from 5 to 10080, got 4'],
    [{ maxWaitingMinutes: 60.5 }, 'photopipe setting maxWaitingMinutes must be a whole number from 5 to 10080'],
    [{ reservedConcurrency: 10 }, 'photopipe setting reservedConcurrency must be an object of function names and numbers'],
    [{ reservedConcurrency: [10] }, 'photopipe setting reservedConcurrency must be an object of function names and numbers'],
    [{ reservedConcurrency: { archiver: 10 } }, 'photopipe setting reservedConcurrency names "archiver", which is not a function (validate, thumbnail, archive, cleanup)'],
    [{ memoryMb: 1024 }, 'photopipe setting memoryMb must be an object of function names and numbers, e.g. {"thumbnail": 2048}, got 1024'],
    [{ memoryMb: { thumbnails: 2048 } }, 'photopipe setting memoryMb names "thumbnails", which is not a function'],
    [{ memoryMb: { thumbnail: 127 } }, 'photopipe setting memoryMb.thumbnail must be a whole number from 128 to 10240, got 127'],
    [{ memoryMb: { thumbnail: 10241 } }, 'photopipe setting memoryMb.thumbnail must be a whole number from 128 to 10240, got 10241'],
    [{ reservedConcurrency: { archive: 0 } }, 'photopipe setting reservedConcurrency.archive must be a whole number from 1 to 1000, got 0'],
    [{ reservedConcurrency: { archive: 1001 } }, 'photopipe setting reservedConcurrency.archive must be a whole number from 1 to 1000'],
    [{ reservedConcurrency: { archive: null } }, 'photopipe setting reservedConcurrency.archive must be a whole number from 1 to 1000, got null'],
  ])('%j is refused, saying why', (raw, message) => {
    expect(() => parseSettings(raw)).toThrow(message);
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
