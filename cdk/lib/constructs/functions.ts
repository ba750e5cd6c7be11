/**
 * The four Rust Lambdas, built by cargo-lambda for ARM64 (`provided.al2023`), each with its
 * own role that allows exactly the actions and prefixes its step needs, and its own log
 * group.
 */
import * as path from 'node:path';
import { CfnElement, Duration, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { BundlingOptions, RustFunction } from 'cargo-lambda-cdk';
import { Construct } from 'constructs';
import { PREFIXES, SETTINGS } from '../contract';
import { Settings, settingsEnvironment } from '../settings';

const WORKSPACE = path.join(__dirname, '..', '..', '..');
/** The Cargo workspace whose binaries are the functions. */
export const WORKSPACE_MANIFEST = path.join(WORKSPACE, 'Cargo.toml');
/**
 * The static ARM64 libde265 (HEVC) that libheif links for HEIC: `scripts/libde265 aarch64`
 * builds it from Debian's source before cargo-lambda runs, and these variables point
 * libheif-sys's cmake and pkg-config at it (the host build's are in .cargo/config.toml).
 */
const LIBDE265_ARM64 = path.join(WORKSPACE, '.cache', 'libde265', 'aarch64');
export const ARM64_BUILD: BundlingOptions = {
  environment: {
    CMAKE_PREFIX_PATH: LIBDE265_ARM64,
    PKG_CONFIG_PATH: path.join(LIBDE265_ARM64, 'lib', 'pkgconfig'),
    PKG_CONFIG_ALLOW_CROSS: '1',
  },
  commandHooks: {
    beforeBundling: () => [`bash "${path.join(WORKSPACE, 'scripts', 'libde265')}" aarch64`],
    afterBundling: () => [],
  },
};

export interface PipelineFunctionsProps {
  readonly dropbox: s3.IBucket;
  readonly thumbnails: s3.IBucket;
  readonly settings: Settings;
}

/** A bucket and the key pattern (ending in `*`) a function may reach in it. */
interface ObjectWildcard {
  readonly bucket: s3.IBucket;
  readonly pattern: string;
}

/** cdk-nag's finding id for an object-ARN wildcard: it names the bucket by logical id. */
function objectWildcardFinding({ bucket, pattern }: ObjectWildcard): string {
  const stack = Stack.of(bucket);
  const logicalId = stack.resolve(stack.getLogicalId(bucket.node.defaultChild as CfnElement));
  return `AwsSolutions-IAM5[Resource::<${logicalId}.Arn>/${pattern}]`;
}

export class PipelineFunctions extends Construct {
  readonly validate: lambda.Function;
  readonly thumbnail: lambda.Function;
  readonly archive: lambda.Function;
  readonly cleanup: lambda.Function;

  constructor(scope: Construct, id: string, props: PipelineFunctionsProps) {
    super(scope, id);
    const { dropbox, thumbnails, settings } = props;
    const wasabiSecret = secretsmanager.Secret.fromSecretNameV2(this, 'WasabiSecret', settings.wasabiSecretName);
    const wasabi = settingsEnvironment(settings, 'wasabiEndpoint', 'wasabiRegion', 'wasabiBucket', 'wasabiSecretName');
    const limits = settingsEnvironment(settings, 'maxBytes', 'maxPixels');
    const thumbnailsBucket = { [SETTINGS.environment.thumbnailsBucket]: thumbnails.bucketName };
    const photos = { bucket: dropbox, pattern: `${PREFIXES.photos}*` };
    const rejected = { bucket: dropbox, pattern: `${PREFIXES.quarantine}*` };
    const allThumbnails = { bucket: thumbnails, pattern: '*' };
    const uploads = dropbox.arnForObjects(photos.pattern);
    const quarantine = dropbox.arnForObjects(rejected.pattern);
    const readUploads = new iam.PolicyStatement({ actions: ['s3:GetObject', 's3:GetObjectVersion'], resources: [uploads] });
    // Without ListBucket, S3 answers 403 rather than 404 for a missing key.
    const listPrefixes = (bucket: s3.IBucket, ...prefixes: string[]) =>
      new iam.PolicyStatement({
        actions: ['s3:ListBucket'],
        resources: [bucket.bucketArn],
        conditions: { StringLike: { 's3:prefix': prefixes.map((prefix) => `${prefix}*`) } },
      });

    this.validate = this.rustFunction('Validate', 'validate', {
      memorySize: 1024,
      environment: limits,
      statements: [readUploads, listPrefixes(dropbox, PREFIXES.photos)],
      objectWildcards: [photos],
      reason: `validate reads any upload under ${PREFIXES.photos} of the dropbox, and only that prefix.`,
    });
    this.thumbnail = this.rustFunction('Thumbnail', 'thumbnail', {
      memorySize: 1024,
      environment: { ...thumbnailsBucket, ...settingsEnvironment(settings, 'thumbnailRenditions'), ...limits },
      statements: [
        readUploads,
        listPrefixes(dropbox, PREFIXES.photos),
        new iam.PolicyStatement({ actions: ['s3:GetObject', 's3:PutObject'], resources: [thumbnails.arnForObjects(allThumbnails.pattern)] }),
        new iam.PolicyStatement({ actions: ['s3:ListBucket'], resources: [thumbnails.bucketArn] }),
      ],
      objectWildcards: [photos, allThumbnails],
      reason: `thumbnail reads any upload under ${PREFIXES.photos} and writes any key of the thumbnails bucket (keys mirror upload paths).`,
    });
    this.archive = this.rustFunction('Archive', 'archive', {
      memorySize: 512,
      environment: wasabi,
      statements: [readUploads, listPrefixes(dropbox, PREFIXES.photos)],
      objectWildcards: [photos],
      reason: `archive streams any upload under ${PREFIXES.photos} to Wasabi.`,
    });
    wasabiSecret.grantRead(this.archive);
    this.cleanup = this.rustFunction('Cleanup', 'cleanup', {
      memorySize: 256,
      environment: { ...wasabi, ...thumbnailsBucket },
      statements: [
        new iam.PolicyStatement({ actions: ['s3:GetObject', 's3:GetObjectVersion', 's3:DeleteObject'], resources: [uploads] }),
        new iam.PolicyStatement({ actions: ['s3:GetObject', 's3:PutObject'], resources: [quarantine] }),
        listPrefixes(dropbox, PREFIXES.photos, PREFIXES.quarantine),
        new iam.PolicyStatement({ actions: ['s3:GetObject'], resources: [thumbnails.arnForObjects(allThumbnails.pattern)] }),
        new iam.PolicyStatement({ actions: ['s3:ListBucket'], resources: [thumbnails.bucketArn] }),
      ],
      objectWildcards: [photos, rejected, allThumbnails],
      reason: `cleanup removes uploads under ${PREFIXES.photos} (a delete marker: the version stays), moves rejected ones under ${PREFIXES.quarantine}, and checks thumbnails at any key.`,
    });
    wasabiSecret.grantRead(this.cleanup);
  }

  private rustFunction(
    id: string,
    binaryName: string,
    options: {
      memorySize: number;
      environment: Record<string, string>;
      statements: iam.PolicyStatement[];
      /** The `bucket/prefix*` object ARNs the statements use, and why each is needed. */
      objectWildcards: ObjectWildcard[];
      reason: string;
    },
  ): lambda.Function {
    const logGroup = new logs.LogGroup(this, `${id}Logs`, {
      retention: logs.RetentionDays.ONE_MONTH,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    const role = new iam.Role(this, `${id}Role`, {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: `photopipe ${binaryName} function`,
    });
    const fn = new RustFunction(this, id, {
      manifestPath: WORKSPACE_MANIFEST,
      binaryName,
      architecture: lambda.Architecture.ARM_64,
      bundling: ARM64_BUILD,
      runtime: 'provided.al2023',
      memorySize: options.memorySize,
      timeout: Duration.seconds(60),
      environment: { RUST_LOG: 'info', ...options.environment },
      role,
      logGroup,
      loggingFormat: lambda.LoggingFormat.JSON,
      description: `photopipe ${binaryName} step`,
    });
    const policy = new iam.Policy(this, `${id}Access`, { statements: options.statements });
    policy.addStatements(
      new iam.PolicyStatement({ actions: ['logs:CreateLogStream', 'logs:PutLogEvents'], resources: [logGroup.logGroupArn] }),
    );
    role.attachInlinePolicy(policy);
    for (const objects of options.objectWildcards) {
      Validations.of(policy).acknowledge({ id: objectWildcardFinding(objects), reason: options.reason });
    }
    return fn;
  }
}
