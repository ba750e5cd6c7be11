/**
 * The four pipeline functions (validate, thumbnail, archive, cleanup): what each reads from
 * the settings, and exactly which actions on which prefixes each may use. Sizes, prefixes
 * and environment variable names come from `contract/`. Each Wasabi key has its own secret,
 * and each function may read only its own: archive the write key's, cleanup the read key's.
 */
import { Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import { FUNCTIONS, FunctionName, PREFIXES, SETTINGS } from '../contract';
import { Settings, settingsEnvironment } from '../settings';
import { PipelineFunction } from './pipeline-function';

export interface PipelineFunctionsProps {
  readonly dropbox: s3.IBucket;
  readonly thumbnails: s3.IBucket;
  readonly settings: Settings;
}

/**
 * Lets `grantee` read the secret `name` (GetSecretValue, DescribeSecret on that secret alone)
 * and, when the secrets are encrypted with the customer-managed key `kmsKeyArn`, decrypt with
 * that key through Secrets Manager in this region only.
 */
export function grantWasabiSecret(scope: Construct, id: string, grantee: iam.IGrantable, name: string, kmsKeyArn?: string): void {
  secretsmanager.Secret.fromSecretNameV2(scope, id, name).grantRead(grantee);
  if (kmsKeyArn !== undefined) {
    grantee.grantPrincipal.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['kms:Decrypt'],
        resources: [kmsKeyArn],
        conditions: { StringEquals: { 'kms:ViaService': `secretsmanager.${Stack.of(scope).region}.amazonaws.com` } },
      }),
    );
  }
}

export class PipelineFunctions extends Construct {
  readonly validate: PipelineFunction;
  readonly thumbnail: PipelineFunction;
  readonly archive: PipelineFunction;
  readonly cleanup: PipelineFunction;
  /** The four, in the order the state machine runs them. */
  readonly all: readonly PipelineFunction[];

  constructor(scope: Construct, id: string, props: PipelineFunctionsProps) {
    super(scope, id);
    const { dropbox, thumbnails, settings } = props;
    const wasabi = settingsEnvironment(settings, 'wasabiEndpoint', 'wasabiRegion', 'wasabiBucket');
    const limits = settingsEnvironment(settings, 'maxBytes', 'maxPixels');
    const thumbnailsBucket = { [SETTINGS.environment.thumbnailsBucket]: thumbnails.bucketName };
    const photos = { bucket: dropbox, pattern: `${PREFIXES.photos}*` };
    const rejected = { bucket: dropbox, pattern: `${PREFIXES.quarantine}*` };
    const allThumbnails = { bucket: thumbnails, pattern: '*' };
    const uploads = dropbox.arnForObjects(photos.pattern);
    const quarantine = dropbox.arnForObjects(rejected.pattern);
    const readUploads = new iam.PolicyStatement({ actions: ['s3:GetObject', 's3:GetObjectVersion'], resources: [uploads] });
    // Without ListBucket, S3 answers 403 rather than 404 for a missing key.
    const operations = (name: FunctionName) => ({
      logRetentionDays: settings.logRetentionDays,
      reservedConcurrency: settings.reservedConcurrency[name],
      memoryMb: settings.memoryMb[name],
    });
    const listPrefixes = (bucket: s3.IBucket, ...prefixes: string[]) =>
      new iam.PolicyStatement({
        actions: ['s3:ListBucket'],
        resources: [bucket.bucketArn],
        conditions: { StringLike: { 's3:prefix': prefixes.map((prefix) => `${prefix}*`) } },
      });

    this.validate = new PipelineFunction(this, 'Validate', {
      binaryName: 'validate',
      contract: FUNCTIONS.functions.validate,
      ...operations('validate'),
      environment: limits,
      statements: [readUploads, listPrefixes(dropbox, PREFIXES.photos)],
      objectWildcards: [photos],
      reason: `validate reads any upload under ${PREFIXES.photos} of the dropbox, and only that prefix.`,
    });
    this.thumbnail = new PipelineFunction(this, 'Thumbnail', {
      binaryName: 'thumbnail',
      contract: FUNCTIONS.functions.thumbnail,
      ...operations('thumbnail'),
      environment: { ...thumbnailsBucket, ...settingsEnvironment(settings, 'thumbnailRenditions'), ...limits },
      statements: [
        readUploads,
        listPrefixes(dropbox, PREFIXES.photos),
        new iam.PolicyStatement({ actions: ['s3:GetObject', 's3:PutObject'], resources: [thumbnails.arnForObjects(allThumbnails.pattern)] }),
        new iam.PolicyStatement({ actions: ['s3:ListBucket'], resources: [thumbnails.bucketArn] }),
      ],
      objectWildcards: [photos, allThumbnails],
      // Also HEADs the current object under an upload's key (s3:GetObject, with ListBucket for a
      // 404), and writes thumbnails with If-Match / If-None-Match (s3:PutObject alone).
      reason: `thumbnail reads any upload under ${PREFIXES.photos} and writes any key of the thumbnails bucket (keys mirror upload paths).`,
    });
    this.archive = new PipelineFunction(this, 'Archive', {
      binaryName: 'archive',
      contract: FUNCTIONS.functions.archive,
      ...operations('archive'),
      environment: { ...wasabi, ...settingsEnvironment(settings, 'wasabiSecretName') },
      statements: [readUploads, listPrefixes(dropbox, PREFIXES.photos)],
      objectWildcards: [photos],
      reason: `archive streams any upload under ${PREFIXES.photos} to Wasabi.`,
    });
    grantWasabiSecret(this, 'WasabiSecret', this.archive, settings.wasabiSecretName, settings.wasabiSecretKmsKeyArn);
    this.cleanup = new PipelineFunction(this, 'Cleanup', {
      binaryName: 'cleanup',
      contract: FUNCTIONS.functions.cleanup,
      ...operations('cleanup'),
      environment: { ...wasabi, ...settingsEnvironment(settings, 'wasabiReadSecretName'), ...thumbnailsBucket },
      statements: [
        new iam.PolicyStatement({ actions: ['s3:GetObject', 's3:GetObjectVersion', 's3:DeleteObject'], resources: [uploads] }),
        // The outcome tag on the exact version archived or quarantined (PutObjectTagging with
        // a version id needs the Version action), which lets the lifecycle expire it.
        new iam.PolicyStatement({ actions: ['s3:PutObjectTagging', 's3:PutObjectVersionTagging'], resources: [uploads] }),
        // rejected/<path>~<version id> and rejected/long-keys/<hash>~<version id>, with their reasons;
        // a source over 5 GiB is copied in parts (s3:PutObject), and a failed copy aborted.
        new iam.PolicyStatement({ actions: ['s3:GetObject', 's3:PutObject', 's3:AbortMultipartUpload'], resources: [quarantine] }),
        listPrefixes(dropbox, PREFIXES.photos, PREFIXES.quarantine),
        new iam.PolicyStatement({ actions: ['s3:GetObject'], resources: [thumbnails.arnForObjects(allThumbnails.pattern)] }),
        new iam.PolicyStatement({ actions: ['s3:ListBucket'], resources: [thumbnails.bucketArn] }),
      ],
      objectWildcards: [photos, rejected, allThumbnails],
      reason: `cleanup tags the settled version of any upload under ${PREFIXES.photos} and removes it (a delete marker: the version stays), moves rejected ones under ${PREFIXES.quarantine}, and checks thumbnails at any key.`,
    });
    grantWasabiSecret(this, 'WasabiReadSecret', this.cleanup, settings.wasabiReadSecretName, settings.wasabiSecretKmsKeyArn);
    // SSE-KMS buckets (`bucketKms`; one key for both): reading an object has S3 decrypt its
    // data key, writing one has it make one; only through S3, in this region.
    const key = dropbox.encryptionKey;
    if (key !== undefined) {
      const throughS3 = { StringEquals: { 'kms:ViaService': `s3.${Stack.of(this).region}.amazonaws.com` } };
      const reads = [this.validate, this.archive];
      const readsAndWrites = [this.thumbnail, this.cleanup];
      for (const fn of reads) {
        fn.access.addStatements(new iam.PolicyStatement({ actions: ['kms:Decrypt'], resources: [key.keyArn], conditions: throughS3 }));
      }
      for (const fn of readsAndWrites) {
        fn.access.addStatements(new iam.PolicyStatement({ actions: ['kms:Decrypt', 'kms:GenerateDataKey'], resources: [key.keyArn], conditions: throughS3 }));
      }
    }
    this.all = [this.validate, this.thumbnail, this.archive, this.cleanup];
  }
}
