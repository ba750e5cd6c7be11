/**
 * The deployment's settings, read from the `photopipe` object in `cdk.json` context (or
 * `cdk deploy -c photopipe='{...}'`), with defaults, and checked at synth time so that a
 * bad value fails the deploy rather than the first photo. Defaults, bounds, patterns and the
 * environment variables that carry the settings to the functions come from
 * `contract/settings.json`; the rendition grammar agrees with `contract/renditions.json`.
 */
import { FUNCTIONS, FunctionName, RENDITIONS, SETTINGS, SettingsContract } from './contract';

/** The settings `contract/settings.json` states, which the functions share. */
export interface ContractSettings {
  /** Wasabi region of the archive bucket, e.g. `eu-central-2`. */
  readonly wasabiRegion: string;
  /** Wasabi S3 endpoint URL, e.g. `https://s3.eu-central-2.wasabisys.com`. */
  readonly wasabiEndpoint: string;
  /** Archive bucket at Wasabi (made by `cdk deploy` unless `wasabiManageBucket` is false). */
  readonly wasabiBucket: string;
  /** Secrets Manager secret holding archive's write key: `{"WASABI_ACCESS": …, "WASABI_SECRET": …}`. */
  readonly wasabiSecretName: string;
  /** The secret of the read-only key cleanup verifies archived copies with (same JSON). */
  readonly wasabiReadSecretName: string;
  /** The secret of the key the bucket provider creates and checks the bucket with (same JSON). */
  readonly wasabiSetupSecretName: string;
  /** Object Lock mode of the archive bucket's default retention, when `cdk deploy` creates it. */
  readonly wasabiObjectLockMode: 'GOVERNANCE' | 'COMPLIANCE';
  /** Days of default retention of each archived version when `cdk deploy` creates the bucket; 0 for none. */
  readonly wasabiRetentionDays: number;
  /**
   * The thumbnails made of every photo, each `WxH[:fit|fill][:jpeg|png|webp][:qNN][:upscale]`
   * (default fit, JPEG, quality 80, never upscaled); the first is the one reports show.
   */
  readonly thumbnailRenditions: string[];
  /** Largest original accepted, in bytes. */
  readonly maxBytes: number;
  /** Largest original accepted, in pixels (width × height). */
  readonly maxPixels: number;
  /**
   * Days an archived or quarantined original stays recoverable as a noncurrent version in the
   * dropbox; one never archived nor quarantined is never expired.
   */
  readonly noncurrentVersionDays: number;
}

/**
 * The settings only the deployment knows (who may do what, logs, alarms, concurrency): no
 * function reads them, so they are not in `contract/`; their defaults and bounds are in
 * `DEPLOYMENT_SETTINGS` below.
 */
export interface DeploymentSettings {
  /** Also create an IAM group for each of the people's managed policies (uploader, viewer, operator). */
  readonly createGroups: boolean;
  /**
   * Encrypt the dropbox and the thumbnails with a customer-managed KMS key the stack makes
   * (SSE-KMS with S3 bucket keys, rotated yearly) rather than S3's own keys (SSE-S3).
   */
  readonly bucketKms: boolean;
  /**
   * The one role exempt from the buckets' guard rails (may delete versions, the buckets, and
   * change their versioning, lifecycle and policy); absent, nobody is.
   */
  readonly breakGlassRoleArn?: string;
  /** Whether the state machine's log events carry each state's input and output (key names, results). */
  readonly logExecutionData: boolean;
  /**
   * The ASL's retry waits cut to seconds (`retries.fast` of `contract/settings.json`), the
   * attempts unchanged: for a test stack, where an outage should show in a minute. Off, the
   * production schedule in `statemachine/pipeline.asl.json`.
   */
  readonly fastRetries: boolean;
  /** Days the functions', the state machine's and the failed runs' log groups keep their events. */
  readonly logRetentionDays: number;
  /** Where the alarms are mailed (an SNS e-mail subscription, to be confirmed); absent, the topic has no subscriber. */
  readonly alarmEmail?: string;
  /** Minutes an original may wait under `photos/` before the waiting-original alarm goes off. */
  readonly maxWaitingMinutes: number;
  /** Minutes between two runs of the reconciler. */
  readonly reconcileEveryMinutes: number;
  /**
   * Minutes an original waits under `photos/` with no run before the reconciler starts it (its
   * event presumed lost); with `reconcileEveryMinutes`, less than `maxWaitingMinutes`.
   */
  readonly reconcileAfterMinutes: number;
  /** Reserved concurrency of each function named; the others share the account's unreserved pool. */
  readonly reservedConcurrency: { readonly [name in FunctionName]?: number };
  /**
   * Memory in MB of each function named, in place of `contract/functions.json`'s (which the
   * local Lambda host runs each function with); the decode budget of validate and thumbnail
   * follows it (the README's "Memory, timeouts and concurrency").
   */
  readonly memoryMb: { readonly [name in FunctionName]?: number };
  /** Whether `cdk deploy` creates (or checks) the archive bucket at Wasabi; false, it is left alone. */
  readonly wasabiManageBucket: boolean;
  /**
   * The customer-managed KMS key the Wasabi secrets are encrypted with: the functions that read
   * them may decrypt with it through Secrets Manager; absent, the secrets use the AWS-managed key.
   */
  readonly wasabiSecretKmsKeyArn?: string;
}

export interface Settings extends ContractSettings, DeploymentSettings {}

/** The retention periods CloudWatch Logs accepts, in days. */
export const LOG_RETENTION_DAYS = [1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653] as const;

/** Defaults and bounds of the deployment settings. */
export const DEPLOYMENT_SETTINGS = {
  createGroups: { default: false },
  bucketKms: { default: false },
  breakGlassRoleArn: {
    pattern: '^arn:aws(-[a-z]+)*:iam::[0-9]{12}:role/[A-Za-z0-9+=,.@_/-]{1,512}$',
    what: 'an IAM role ARN such as arn:aws:iam::123456789012:role/break-glass',
  },
  logExecutionData: { default: false },
  fastRetries: { default: false },
  logRetentionDays: { default: 90, allowed: LOG_RETENTION_DAYS },
  alarmEmail: { pattern: '^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$', what: 'an e-mail address' },
  maxWaitingMinutes: { default: 60, min: 5, max: 10080 },
  // A lost event is found within reconcileAfterMinutes + reconcileEveryMinutes (45 by
  // default), before the waiting-original alarm (maxWaitingMinutes, 60); a run lists photos/
  // once (one LIST request when nothing is that old).
  reconcileEveryMinutes: { default: 15, min: 1, max: 1440 },
  reconcileAfterMinutes: { default: 30, min: 1, max: 10080 },
  // A burst of uploads must not open hundreds of connections to Wasabi at once (its
  // per-account request rates, our bandwidth) nor take the account's whole concurrency from
  // other functions: archive, which streams each original to Wasabi for up to 15 minutes, gets
  // 10 by default; the others scale with Lambda's default. A throttled invocation is
  // Lambda.TooManyRequestsException, which every Task retries for about 20 minutes.
  reservedConcurrency: { default: { archive: 10 }, min: 1, max: 1000 },
  // Lambda's bounds.
  memoryMb: { default: {}, min: 128, max: 10240 },
  wasabiManageBucket: { default: true },
  wasabiSecretKmsKeyArn: {
    pattern: '^arn:aws(-[a-z]+)*:kms:[a-z0-9-]+:[0-9]{12}:key/[A-Za-z0-9-]{1,128}$',
    what: 'a KMS key ARN such as arn:aws:kms:eu-central-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab',
  },
} as const;

const SPEC = SETTINGS.settings;

export const DEFAULT_SETTINGS: Settings = {
  wasabiRegion: SPEC.wasabiRegion.default,
  wasabiEndpoint: SPEC.wasabiEndpoint.default,
  wasabiBucket: SPEC.wasabiBucket.default,
  wasabiSecretName: SPEC.wasabiSecretName.default,
  wasabiReadSecretName: SPEC.wasabiReadSecretName.default,
  wasabiSetupSecretName: SPEC.wasabiSetupSecretName.default,
  wasabiObjectLockMode: SPEC.wasabiObjectLockMode.default as Settings['wasabiObjectLockMode'],
  wasabiRetentionDays: SPEC.wasabiRetentionDays.default,
  thumbnailRenditions: [...SPEC.thumbnailRenditions.default],
  maxBytes: SPEC.maxBytes.default,
  maxPixels: SPEC.maxPixels.default,
  noncurrentVersionDays: SPEC.noncurrentVersionDays.default,
  createGroups: DEPLOYMENT_SETTINGS.createGroups.default,
  bucketKms: DEPLOYMENT_SETTINGS.bucketKms.default,
  logExecutionData: DEPLOYMENT_SETTINGS.logExecutionData.default,
  fastRetries: DEPLOYMENT_SETTINGS.fastRetries.default,
  logRetentionDays: DEPLOYMENT_SETTINGS.logRetentionDays.default,
  maxWaitingMinutes: DEPLOYMENT_SETTINGS.maxWaitingMinutes.default,
  reconcileEveryMinutes: DEPLOYMENT_SETTINGS.reconcileEveryMinutes.default,
  reconcileAfterMinutes: DEPLOYMENT_SETTINGS.reconcileAfterMinutes.default,
  reservedConcurrency: { ...DEPLOYMENT_SETTINGS.reservedConcurrency.default },
  memoryMb: { ...DEPLOYMENT_SETTINGS.memoryMb.default },
  wasabiManageBucket: DEPLOYMENT_SETTINGS.wasabiManageBucket.default,
};

type Spec = SettingsContract['settings'];
/** The settings with a whole-number range in the contract. */
type IntegerSetting = { [K in keyof Spec]: Spec[K] extends { min: number; max: number } ? K : never }[keyof Spec];
/** The settings with a text pattern in the contract. */
type TextSetting = { [K in keyof Spec]: Spec[K] extends { pattern: string } ? K : never }[keyof Spec];
/** The settings the functions read from an environment variable. */
export type CarriedSetting = { [K in keyof ContractSettings]: Spec[K] extends { env: string } ? K : never }[keyof ContractSettings];

/** Merges `raw` (the context value) over the defaults and validates the result. */
export function parseSettings(raw: unknown): Settings {
  if (raw !== undefined && (typeof raw !== 'object' || raw === null || Array.isArray(raw))) {
    throw new Error('photopipe context must be an object of settings');
  }
  const given = (raw ?? {}) as Record<string, unknown>;
  const unknownKeys = Object.keys(given).filter((key) => !Object.hasOwn(SPEC, key) && !Object.hasOwn(DEPLOYMENT_SETTINGS, key));
  if (unknownKeys.length > 0) {
    throw new Error(`unknown photopipe setting(s): ${unknownKeys.join(', ')}`);
  }
  const settings = { ...DEFAULT_SETTINGS, ...reconcileDefaults(given), ...given } as Settings;
  const integer = (name: IntegerSetting) => {
    const { min, max } = SPEC[name];
    const value = settings[name];
    if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
      throw new Error(`photopipe setting ${name} must be a whole number from ${min} to ${max}, got ${JSON.stringify(value)}`);
    }
  };
  checkRenditions(settings.thumbnailRenditions);
  integer('maxBytes');
  integer('maxPixels');
  integer('noncurrentVersionDays');
  integer('wasabiRetentionDays');
  const mode = settings.wasabiObjectLockMode;
  if (!SPEC.wasabiObjectLockMode.allowed.includes(mode)) {
    throw new Error(`photopipe setting wasabiObjectLockMode must be one of ${SPEC.wasabiObjectLockMode.allowed.join(', ')}, got ${JSON.stringify(mode)}`);
  }
  const text = (name: TextSetting) => {
    const { pattern, what } = SPEC[name];
    const value = settings[name];
    if (typeof value !== 'string' || !new RegExp(pattern).test(value)) {
      throw new Error(`photopipe setting ${name} must be ${what}, got ${JSON.stringify(value)}`);
    }
  };
  text('wasabiEndpoint');
  text('wasabiRegion');
  text('wasabiBucket');
  text('wasabiSecretName');
  text('wasabiReadSecretName');
  text('wasabiSetupSecretName');
  if (new Set([settings.wasabiSecretName, settings.wasabiReadSecretName, settings.wasabiSetupSecretName]).size !== 3) {
    throw new Error('photopipe settings wasabiSecretName, wasabiReadSecretName and wasabiSetupSecretName must name three different secrets (one key each)');
  }
  checkDeploymentSettings(settings);
  return settings;
}

/**
 * The reconciler's defaults follow `maxWaitingMinutes` when it is given: half of it to wait, a
 * quarter between runs (30 and 15 of the default 60), so a lost event is started before its alarm.
 */
function reconcileDefaults(given: Record<string, unknown>): Partial<Settings> {
  const max = given.maxWaitingMinutes;
  if (typeof max !== 'number' || !Number.isInteger(max)) return {};
  const spec = DEPLOYMENT_SETTINGS;
  return {
    reconcileAfterMinutes: Math.max(spec.reconcileAfterMinutes.min, Math.floor(max / 2)),
    reconcileEveryMinutes: Math.min(spec.reconcileEveryMinutes.max, Math.max(spec.reconcileEveryMinutes.min, Math.floor(max / 4))),
  };
}

/** Checks the deployment settings as `parseSettings` checks the contract's. */
function checkDeploymentSettings(settings: Settings): void {
  const spec = DEPLOYMENT_SETTINGS;
  for (const name of ['createGroups', 'bucketKms', 'logExecutionData', 'fastRetries', 'wasabiManageBucket'] as const) {
    if (typeof settings[name] !== 'boolean') {
      throw new Error(`photopipe setting ${name} must be true or false, got ${JSON.stringify(settings[name])}`);
    }
  }
  for (const name of ['breakGlassRoleArn', 'alarmEmail', 'wasabiSecretKmsKeyArn'] as const) {
    const value = settings[name];
    // Absent means none; a JSON null or an empty string is refused rather than guessed at.
    if (value === undefined) continue;
    if (typeof value !== 'string' || !new RegExp(spec[name].pattern).test(value)) {
      throw new Error(`photopipe setting ${name} must be ${spec[name].what} (or left out), got ${JSON.stringify(value)}`);
    }
  }
  const days = settings.logRetentionDays;
  if (!(spec.logRetentionDays.allowed as readonly unknown[]).includes(days)) {
    throw new Error(`photopipe setting logRetentionDays must be one of CloudWatch Logs' retention periods (${spec.logRetentionDays.allowed.join(', ')}), got ${JSON.stringify(days)}`);
  }
  const whole = (name: string, value: unknown, min: number, max: number) => {
    if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
      throw new Error(`photopipe setting ${name} must be a whole number from ${min} to ${max}, got ${JSON.stringify(value)}`);
    }
  };
  whole('maxWaitingMinutes', settings.maxWaitingMinutes, spec.maxWaitingMinutes.min, spec.maxWaitingMinutes.max);
  whole('reconcileEveryMinutes', settings.reconcileEveryMinutes, spec.reconcileEveryMinutes.min, spec.reconcileEveryMinutes.max);
  whole('reconcileAfterMinutes', settings.reconcileAfterMinutes, spec.reconcileAfterMinutes.min, spec.reconcileAfterMinutes.max);
  if (settings.reconcileAfterMinutes + settings.reconcileEveryMinutes >= settings.maxWaitingMinutes) {
    throw new Error(
      `photopipe settings reconcileAfterMinutes (${settings.reconcileAfterMinutes}) + reconcileEveryMinutes (${settings.reconcileEveryMinutes}) must be less than maxWaitingMinutes (${settings.maxWaitingMinutes}): ` +
        'otherwise an original whose event was lost is started only after its alarm',
    );
  }
  const byFunction = (setting: 'reservedConcurrency' | 'memoryMb', example: string) => {
    const given: unknown = settings[setting];
    if (typeof given !== 'object' || given === null || Array.isArray(given)) {
      throw new Error(`photopipe setting ${setting} must be an object of function names and numbers, e.g. ${example}, got ${JSON.stringify(given)}`);
    }
    const names = Object.keys(FUNCTIONS.functions);
    for (const [name, value] of Object.entries(given)) {
      if (!names.includes(name)) {
        throw new Error(`photopipe setting ${setting} names ${JSON.stringify(name)}, which is not a function (${names.join(', ')})`);
      }
      whole(`${setting}.${name}`, value, spec[setting].min, spec[setting].max);
    }
  };
  byFunction('reservedConcurrency', '{"archive": 10}');
  byFunction('memoryMb', '{"thumbnail": 2048}');
}

/**
 * The environment variables that carry `names` of `settings` to a function, named as the
 * contract says (a list joined by its separator, a number in decimal).
 */
export function settingsEnvironment(settings: Settings, ...names: CarriedSetting[]): Record<string, string> {
  return Object.fromEntries(
    names.map((name) => {
      const spec = SPEC[name];
      const value = settings[name];
      return [spec.env, Array.isArray(value) && 'separator' in spec ? value.join(spec.separator) : `${value}`];
    }),
  );
}

/** One thumbnail rendition, as the thumbnail function makes it. */
export interface Rendition {
  readonly width: number;
  readonly height: number;
  /** `fit` inside the box, or `fill` it and crop. */
  readonly mode: 'fit' | 'fill';
  readonly format: 'jpeg' | 'png' | 'webp';
  /** 1-100 (JPEG and WebP). */
  readonly quality: number;
  /** Whether an image smaller than the box is enlarged. */
  readonly upscale: boolean;
  /** The folder the rendition is written to: `WxH`, `-fill` if filled, `-up` if upscaled. */
  readonly label: string;
  /** The file extension: `jpg`, `png` or `webp`. */
  readonly extension: 'jpg' | 'png' | 'webp';
  /** The spec with every option spelled out: `WxH:mode:format:qN[:upscale]`. */
  readonly canonical: string;
}

/** Neither side of the box may exceed this. */
const MAX_SIDE = 8192;
const DEFAULT_QUALITY = 80;

function refused(spec: unknown, why: string): Error {
  return new Error(`photopipe thumbnail rendition ${JSON.stringify(spec)}: ${why} (expected ${RENDITIONS.grammar})`);
}

/**
 * Parses a rendition spec as the thumbnail function does (`Rendition::from_str` in the
 * Rust functions; both are checked against `contract/renditions.json`). Surrounding spaces
 * are ignored, options apply in order (a later one overrides an earlier one).
 */
export function parseRendition(spec: string): Rendition {
  const [box, ...options] = spec.trim().split(':');
  const size = /^([0-9]+)x([0-9]+)$/.exec(box);
  if (!size) throw refused(spec, 'no WxH box');
  const [width, height] = [Number(size[1]), Number(size[2])];
  if (!(width >= 1 && width <= MAX_SIDE && height >= 1 && height <= MAX_SIDE)) {
    throw refused(spec, `the box must be between 1x1 and ${MAX_SIDE}x${MAX_SIDE}`);
  }
  let mode: Rendition['mode'] = 'fit';
  let format: Rendition['format'] = 'jpeg';
  let quality = DEFAULT_QUALITY;
  let upscale = false;
  for (const option of options) {
    switch (option) {
      case 'fit':
      case 'fill':
        mode = option;
        break;
      case 'jpeg':
      case 'jpg':
        format = 'jpeg';
        break;
      case 'png':
      case 'webp':
        format = option;
        break;
      case 'upscale':
        upscale = true;
        break;
      default: {
        if (!option.startsWith('q')) throw refused(spec, `unknown option ${JSON.stringify(option)}`);
        const digits = option.slice(1);
        if (!/^[0-9]+$/.test(digits)) throw refused(spec, 'quality is not a number');
        quality = Number(digits);
        if (quality < 1 || quality > 100) throw refused(spec, 'quality must be 1-100');
      }
    }
  }
  const label = `${width}x${height}${mode === 'fill' ? '-fill' : ''}${upscale ? '-up' : ''}`;
  const extension = format === 'jpeg' ? 'jpg' : format;
  const canonical = `${width}x${height}:${mode}:${format}:q${quality}${upscale ? ':upscale' : ''}`;
  return { width, height, mode, format, quality, upscale, label, extension, canonical };
}

/**
 * Checks a list of rendition specs as the thumbnail function reads its setting
 * (`ThumbnailSettings::from_str`): each must parse, and no two may write the same folder
 * and format.
 */
export function checkRenditions(specs: unknown): Rendition[] {
  if (!Array.isArray(specs) || specs.length === 0) {
    throw new Error('photopipe setting thumbnailRenditions must be a non-empty list of rendition specs');
  }
  const renditions = specs.map((spec: unknown) => {
    if (typeof spec !== 'string') throw refused(spec, 'not a string');
    return parseRendition(spec);
  });
  const places = new Set<string>();
  for (const { label, extension } of renditions) {
    const place = `${label}.${extension}`;
    if (places.has(place)) {
      throw new Error(`thumbnail renditions ${JSON.stringify(specs)}: two would share the folder ${label} and format ${extension}`);
    }
    places.add(place);
  }
  return renditions;
}
