/**
 * The buckets: the dropbox people upload to (versioned, so nothing is lost to an accidental
 * delete or overwrite, with EventBridge notifications on), the thumbnails bucket, and the
 * bucket that receives both buckets' access logs. The dropbox and the thumbnails are
 * encrypted with S3's keys (SSE-S3), or with a customer-managed KMS key of the stack's
 * (`bucketKms`: SSE-KMS with S3 bucket keys, so S3 asks KMS once per bucket key rather than
 * once per object); the access logs always with S3's, the only encryption S3 delivers server
 * access logs to.
 *
 * The dropbox's lifecycle never expires an original whose fate is not settled: a noncurrent
 * version under `photos/` expires only if it carries the outcome tag (`contract/settings.json`,
 * `lifecycle.outcomeTag`) that cleanup puts on the exact version it has archived and verified,
 * or quarantined (copied under `rejected/` with its reason). No rule expires a current
 * version, and none touches `rejected/`.
 */
import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { skipCheckov } from '../checkov';
import { OUTCOME_TAG, PREFIXES } from '../contract';

export interface PhotoBucketsProps {
  /**
   * Days an archived or quarantined original stays recoverable as a noncurrent version once
   * it is removed from the listing (or overwritten); an original never archived nor
   * quarantined is kept however long.
   */
  readonly noncurrentVersionDays: number;
  /** Encrypt the dropbox and the thumbnails with a customer-managed KMS key. */
  readonly kms: boolean;
}

/** The dropbox's lifecycle rules, each with the id it has in the template. */
export function dropboxLifecycleRules(noncurrentVersionDays: number): s3.LifecycleRule[] {
  const expireSettled = (outcome: 'archived' | 'quarantined'): s3.LifecycleRule => ({
    id: `expire-${outcome}-originals`,
    prefix: PREFIXES.photos,
    tagFilters: { [OUTCOME_TAG.key]: OUTCOME_TAG[outcome] },
    noncurrentVersionExpiration: Duration.days(noncurrentVersionDays),
  });
  return [
    expireSettled('archived'),
    expireSettled('quarantined'),
    // S3 accepts neither of these with a tag filter; neither removes a stored version.
    { id: 'abort-incomplete-uploads', abortIncompleteMultipartUploadAfter: Duration.days(7) },
    { id: 'drop-expired-delete-markers', expiredObjectDeleteMarker: true },
  ];
}

export class PhotoBuckets extends Construct {
  readonly dropbox: s3.Bucket;
  readonly thumbnails: s3.Bucket;
  readonly accessLogs: s3.Bucket;
  /** The key of the dropbox and the thumbnails, with `kms`. */
  readonly key?: kms.Key;

  constructor(scope: Construct, id: string, props: PhotoBucketsProps) {
    super(scope, id);
    const common = {
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      encryption: s3.BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      removalPolicy: RemovalPolicy.RETAIN,
    };
    // Retained like the buckets: objects encrypted under it would be unreadable without it.
    this.key = props.kms
      ? new kms.Key(this, 'Key', {
          description: 'photopipe: the dropbox and the thumbnails (SSE-KMS with S3 bucket keys)',
          enableKeyRotation: true,
          removalPolicy: RemovalPolicy.RETAIN,
        })
      : undefined;
    const encrypted = this.key
      ? { encryption: s3.BucketEncryption.KMS, encryptionKey: this.key, bucketKeyEnabled: true }
      : { encryption: s3.BucketEncryption.S3_MANAGED };
    this.accessLogs = new s3.Bucket(this, 'AccessLogs', {
      ...common,
      lifecycleRules: [{ expiration: Duration.days(365) }],
    });
    // Not logged itself (that would loop); cdk-nag's S1 knows a bucket other buckets log to.
    skipCheckov(
      this.accessLogs,
      { id: 'CKV_AWS_18', comment: 'The access-log bucket itself: logging its own accesses to itself would loop.' },
      { id: 'CKV_AWS_21', comment: 'Holds S3 server access logs that S3 only ever appends as new objects and that expire after 365 days; versions would keep nothing more.' },
    );
    this.dropbox = new s3.Bucket(this, 'Dropbox', {
      ...common,
      ...encrypted,
      versioned: true,
      serverAccessLogsBucket: this.accessLogs,
      serverAccessLogsPrefix: 'dropbox/',
      lifecycleRules: dropboxLifecycleRules(props.noncurrentVersionDays),
    });
    // EventBridge notifications through the L1 property: no extra custom-resource Lambda.
    const cfnDropbox = this.dropbox.node.defaultChild as s3.CfnBucket;
    cfnDropbox.notificationConfiguration = { eventBridgeConfiguration: { eventBridgeEnabled: true } };
    this.thumbnails = new s3.Bucket(this, 'Thumbnails', {
      ...common,
      ...encrypted,
      serverAccessLogsBucket: this.accessLogs,
      serverAccessLogsPrefix: 'thumbnails/',
    });
    skipCheckov(this.thumbnails, {
      id: 'CKV_AWS_21',
      comment: 'Thumbnails are derived: each can be made again from its original (archived at Wasabi), and every write is conditional on the current ETag, so versions would only keep superseded renditions.',
    });
  }
}
