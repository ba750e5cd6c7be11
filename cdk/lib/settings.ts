/**
 * The deployment's settings, read from the `photopipe` object in `cdk.json` context (or
 * `cdk deploy -c photopipe='{...}'`), with defaults, and checked at synth time so that a
 * bad value fails the deploy rather than the first photo.
 */

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
  /** Days a removed original stays recoverable as a noncurrent version in the dropbox. */
  readonly noncurrentVersionDays: number;
}

export const DEFAULT_SETTINGS: Settings = {
  wasabiRegion: 'eu-central-2',
  wasabiEndpoint: 'https://s3.eu-central-2.wasabisys.com',
  wasabiBucket: 'photopipe-archive',
  wasabiSecretName: 'demo/wasabi/access',
  thumbnailRenditions: ['256x256'],
  maxBytes: 64 * 1024 * 1024,
  maxPixels: 100_000_000,
  noncurrentVersionDays: 30,
};

/** Merges `raw` (the context value) over the defaults and validates the result. */
export function parseSettings(raw: unknown): Settings {
  if (raw !== undefined && (typeof raw !== 'object' || raw === null || Array.isArray(raw))) {
    throw new Error('photopipe context must be an object of settings');
  }
  const given = (raw ?? {}) as Record<string, unknown>;
  const unknownKeys = Object.keys(given).filter((key) => !(key in DEFAULT_SETTINGS));
  if (unknownKeys.length > 0) {
    throw new Error(`unknown photopipe setting(s): ${unknownKeys.join(', ')}`);
  }
  const settings = { ...DEFAULT_SETTINGS, ...given } as Settings;
  const integer = (name: keyof Settings, min: number, max: number) => {
    const value = settings[name];
    if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
      throw new Error(`photopipe setting ${name} must be a whole number from ${min} to ${max}, got ${JSON.stringify(value)}`);
    }
  };
  checkRenditions(settings.thumbnailRenditions);
  integer('maxBytes', 1, 5 * 1024 ** 3);
  integer('maxPixels', 1, 1_000_000_000);
  integer('noncurrentVersionDays', 1, 3650);
  const text = (name: keyof Settings, pattern: RegExp, what: string) => {
    const value = settings[name];
    if (typeof value !== 'string' || !pattern.test(value)) {
      throw new Error(`photopipe setting ${name} must be ${what}, got ${JSON.stringify(value)}`);
    }
  };
  text('wasabiEndpoint', /^https:\/\/[a-z0-9.-]+(:\d+)?\/?$/, 'an https:// endpoint URL');
  text('wasabiRegion', /^[a-z]{2}(-[a-z]+)+-\d$/, 'a region name such as eu-central-2');
  text('wasabiBucket', /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, 'a valid bucket name');
  text('wasabiSecretName', /^[A-Za-z0-9/_+=.@-]{1,512}$/, 'a Secrets Manager secret name');
  return settings;
}

/**
 * Checks rendition specs as the thumbnail function parses them (`Rendition::from_str` and
 * `ThumbnailSettings::from_str` in functions/photopipe/src/config.rs).
 */
function checkRenditions(specs: unknown): void {
  if (!Array.isArray(specs) || specs.length === 0) {
    throw new Error('photopipe setting thumbnailRenditions must be a non-empty list of rendition specs');
  }
  const places = new Set<string>();
  for (const spec of specs) {
    const fail = (why: string) => {
      throw new Error(
        `photopipe thumbnail rendition ${JSON.stringify(spec)}: ${why} (expected WxH[:fit|fill][:jpeg|png|webp][:qNN][:upscale])`,
      );
    };
    if (typeof spec !== 'string') fail('not a string');
    const [size, ...options] = (spec as string).trim().split(':');
    const box = /^(\d+)x(\d+)$/.exec(size);
    if (!box) fail('no WxH box');
    const [width, height] = [Number(box![1]), Number(box![2])];
    if (width < 1 || width > 8192 || height < 1 || height > 8192) fail('the box must be between 1x1 and 8192x8192');
    let mode = 'fit';
    let format = 'jpg';
    let upscale = false;
    for (const option of options) {
      if (option === 'fit' || option === 'fill') mode = option;
      else if (option === 'jpeg' || option === 'jpg') format = 'jpg';
      else if (option === 'png' || option === 'webp') format = option;
      else if (option === 'upscale') upscale = true;
      else if (/^q\d+$/.test(option)) {
        const quality = Number(option.slice(1));
        if (quality < 1 || quality > 100) fail('quality must be 1-100');
      } else fail(`unknown option ${JSON.stringify(option)}`);
    }
    const place = `${width}x${height}${mode === 'fill' ? '-fill' : ''}${upscale ? '-up' : ''}.${format}`;
    if (places.has(place)) fail(`another rendition already writes ${place}`);
    places.add(place);
  }
}
