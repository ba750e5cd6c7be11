/**
 * The repository's `contract/` folder, read once: the error names and how the state machine
 * handles each, the settings (defaults, bounds, patterns, environment variable names),
 * prefixes and the outcome tag the lifecycle keys on, each function's size, and the rendition grammar's cases. The Rust functions take
 * the same facts from the same files, so the CDK app never re-declares them; this module is
 * the only place that knows where the files are.
 */
import { readFileSync } from 'node:fs';
import * as path from 'node:path';

/** `contract/` at the repository root. */
export const CONTRACT_DIR = path.join(__dirname, '..', '..', 'contract');

function read<T>(file: string): T {
  return JSON.parse(readFileSync(path.join(CONTRACT_DIR, file), 'utf8')) as T;
}

/** What the state machine does with an error: see the comment in `contract/errors.json`. */
export type ErrorHandling = 'quarantine' | 'succeed' | 'retry' | 'fail';

export interface PipelineErrorContract {
  readonly name: string;
  readonly handling: ErrorHandling;
  readonly meaning: string;
}

/** `contract/errors.json`. */
export interface ErrorsContract {
  readonly errors: readonly PipelineErrorContract[];
  /** The Lambda service's own errors, which every Task retries like `Photo.Transient`. */
  readonly lambdaServiceErrors: readonly string[];
  /**
   * A function crashing, timing out or running out of memory, and a Task's own
   * `TimeoutSeconds` (`States.Timeout`): every Task retries them a few times, none catches them.
   */
  readonly lambdaCrashErrors: readonly string[];
}

/** A setting carried to the functions in the environment variable `env`. */
interface Carried {
  readonly env: string;
}

/** A text setting: `pattern` is a regular expression the whole value must match. */
export interface TextSettingContract extends Carried {
  readonly default: string;
  readonly pattern: string;
  /** What a matching value is, for the error message. */
  readonly what: string;
}

/** A whole-number setting from `min` to `max`, inclusive. */
export interface IntegerSettingContract {
  readonly env?: string;
  readonly default: number;
  readonly min: number;
  readonly max: number;
}

/** A setting that is one of `allowed`. */
export interface ChoiceSettingContract {
  readonly default: string;
  readonly allowed: readonly string[];
}

/** A list setting, carried as its items joined by `separator`. */
export interface ListSettingContract extends Carried {
  readonly default: readonly string[];
  readonly separator: string;
}

/** The outcome tag: its key, and the value for each settled fate. */
export interface OutcomeTagContract {
  readonly key: string;
  /** The version's copy at Wasabi is verified. */
  readonly archived: string;
  /** The version is copied under the quarantine prefix with its reason. */
  readonly quarantined: string;
}

/** `contract/settings.json`. */
export interface SettingsContract {
  readonly prefixes: {
    /** Keys under this prefix of the dropbox are uploads; outputs never go there. */
    readonly photos: string;
    /** Where rejected uploads are kept, with their reason. */
    readonly quarantine: string;
  };
  readonly lifecycle: {
    /**
     * The object tag cleanup puts on an original's exact version once its fate is settled;
     * the dropbox's lifecycle expires a noncurrent version only when it carries one of these.
     */
    readonly outcomeTag: OutcomeTagContract;
  };
  /** The retry waits `fastRetries` puts in every retrier of the ASL (the local run's `--fast-retries` too). */
  readonly retries: { readonly fast: { readonly intervalSeconds: number; readonly maxDelaySeconds: number } };
  readonly settings: {
    readonly wasabiRegion: TextSettingContract;
    readonly wasabiEndpoint: TextSettingContract;
    readonly wasabiBucket: TextSettingContract;
    readonly wasabiSecretName: TextSettingContract;
    readonly wasabiReadSecretName: TextSettingContract;
    readonly wasabiSetupSecretName: TextSettingContract;
    readonly wasabiObjectLockMode: ChoiceSettingContract;
    readonly wasabiRetentionDays: IntegerSettingContract;
    readonly thumbnailRenditions: ListSettingContract;
    readonly maxBytes: IntegerSettingContract & Carried;
    readonly maxPixels: IntegerSettingContract & Carried;
    readonly noncurrentVersionDays: IntegerSettingContract;
  };
  /** Environment variables the functions read that are not settings. */
  readonly environment: {
    readonly thumbnailsBucket: string;
  };
  readonly reconciler: ReconcilerContract;
}

/** The reconciler function's environment variables and the metric it publishes (no dimensions). */
export interface ReconcilerContract {
  readonly environment: { readonly dropboxBucket: string; readonly stateMachineArn: string; readonly afterMinutes: string };
  readonly metric: { readonly namespace: string; readonly name: string; readonly unit: 'Seconds' };
}

/** One function's entry in `contract/functions.json`. */
export interface FunctionContract {
  readonly memoryMb: number;
  readonly timeoutSeconds: number;
  /** Links the imaging engine and its C libraries (and so needs libde265 built first). */
  readonly linksImaging: boolean;
}

/** The functions, by binary name. */
export type FunctionName = 'validate' | 'thumbnail' | 'archive' | 'cleanup';

/** `contract/functions.json`. */
export interface FunctionsContract {
  readonly functions: { readonly [name in FunctionName]: FunctionContract };
}

/** A spec both parsers accept, and what they make of it. */
export interface ValidRenditionCase {
  readonly spec: string;
  readonly width: number;
  readonly height: number;
  readonly mode: 'fit' | 'fill';
  readonly format: 'jpeg' | 'png' | 'webp';
  readonly quality: number;
  readonly upscale: boolean;
  readonly canonical: string;
  readonly label: string;
  readonly extension: 'jpg' | 'png' | 'webp';
}

/** A spec both parsers refuse, with a part of the message both give. */
export interface InvalidRenditionCase {
  readonly spec: string;
  readonly error: string;
}

/** A list of specs: accepted with these labels, or refused with `error`. */
export interface RenditionListCase {
  readonly specs: readonly string[];
  readonly labels?: readonly string[];
  readonly error?: string;
}

/** `contract/renditions.json`. */
export interface RenditionsContract {
  readonly grammar: string;
  readonly valid: readonly ValidRenditionCase[];
  readonly invalid: readonly InvalidRenditionCase[];
  readonly lists: readonly RenditionListCase[];
}

export const ERRORS: ErrorsContract = read('errors.json');
export const SETTINGS: SettingsContract = read('settings.json');
export const FUNCTIONS: FunctionsContract = read('functions.json');
export const RENDITIONS: RenditionsContract = read('renditions.json');

/** The dropbox's prefixes: `photos` for uploads, `quarantine` for rejected ones. */
export const PREFIXES = SETTINGS.prefixes;
/** The reconciler's environment and its metric. */
export const RECONCILER: ReconcilerContract = SETTINGS.reconciler;
/** The tag on an original's version whose fate is settled (archived or quarantined). */
export const OUTCOME_TAG: OutcomeTagContract = SETTINGS.lifecycle.outcomeTag;
