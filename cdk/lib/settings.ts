/**
 * The deployment's settings, read from the `photopipe` object in `cdk.json` context (or
 * `cdk deploy -c photopipe='{...}'`), with defaults, and checked at synth time so that a
 * bad value fails the deploy rather than the first photo. Defaults, bounds, patterns and the
 * environment variables that carry the settings to the functions come from
 * `contract/settings.json`; the rendition grammar agrees with `contract/renditions.json`.
 */
import { RENDITIONS, SETTINGS, SettingsContract } from './contract';

export interface Settings {
  /** Wasabi region of the archive bucket, e.g. `eu-central-2`. */
  readonly wasabiRegion: string;
  /** Wasabi S3 endpoint URL, e.g. `https://s3.eu-central-2.wasabisys.com`. */
  readonly wasabiEndpoint: string;
  /** Archive bucket at Wasabi (created beforehand, ideally with Object Lock). */
  readonly wasabiBucket: string;
  /** Secrets Manager secret holding `{"WASABI_ACCESS": …, "WASABI_SECRET": …}`. */
  readonly wasabiSecretName: string;
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

const SPEC = SETTINGS.settings;

export const DEFAULT_SETTINGS: Settings = {
  wasabiRegion: SPEC.wasabiRegion.default,
  wasabiEndpoint: SPEC.wasabiEndpoint.default,
  wasabiBucket: SPEC.wasabiBucket.default,
  wasabiSecretName: SPEC.wasabiSecretName.default,
  thumbnailRenditions: [...SPEC.thumbnailRenditions.default],
  maxBytes: SPEC.maxBytes.default,
  maxPixels: SPEC.maxPixels.default,
  noncurrentVersionDays: SPEC.noncurrentVersionDays.default,
};

type Spec = SettingsContract['settings'];
/** The settings with a whole-number range in the contract. */
type IntegerSetting = { [K in keyof Spec]: Spec[K] extends { min: number; max: number } ? K : never }[keyof Spec];
/** The settings with a text pattern in the contract. */
type TextSetting = { [K in keyof Spec]: Spec[K] extends { pattern: string } ? K : never }[keyof Spec];
/** The settings the functions read from an environment variable. */
export type CarriedSetting = { [K in keyof Settings]: Spec[K] extends { env: string } ? K : never }[keyof Settings];

/** Merges `raw` (the context value) over the defaults and validates the result. */
export function parseSettings(raw: unknown): Settings {
  if (raw !== undefined && (typeof raw !== 'object' || raw === null || Array.isArray(raw))) {
    throw new Error('photopipe context must be an object of settings');
  }
  const given = (raw ?? {}) as Record<string, unknown>;
  const unknownKeys = Object.keys(given).filter((key) => !Object.hasOwn(SPEC, key));
  if (unknownKeys.length > 0) {
    throw new Error(`unknown photopipe setting(s): ${unknownKeys.join(', ')}`);
  }
  const settings = { ...DEFAULT_SETTINGS, ...given } as Settings;
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
  return settings;
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
