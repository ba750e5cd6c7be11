/**
 * The buckets: the dropbox people upload to (versioned, so nothing is lost to an accidental
 * delete or overwrite, with EventBridge notifications on), the thumbnails bucket, and the
 * bucket that receives both buckets' access logs.
 */
import { Duration, RemovalPolicy, Validations } from 'aws-cdk-lib';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';

export interface PhotoBucketsProps {
  /** Days a removed or overwritten original stays recoverable. */
  readonly noncurrentVersionDays: number;
}

export class PhotoBuckets extends Construct {
  readonly dropbox: s3.Bucket;
  readonly thumbnails: s3.Bucket;
  readonly accessLogs: s3.Bucket;

  constructor(scope: Construct, id: string, props: PhotoBucketsProps) {
    super(scope, id);
    const common = {
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      encryption: s3.BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      removalPolicy: RemovalPolicy.RETAIN,
    };
    this.accessLogs = new s3.Bucket(this, 'AccessLogs', {
      ...common,
      lifecycleRules: [{ expiration: Duration.days(365) }],
    });
    Validations.of(this.accessLogs).acknowledge({
      id: 'AwsSolutions-S1',
      reason: 'This bucket is the access-log destination; logging it into itself would loop.',
    });
    this.dropbox = new s3.Bucket(this, 'Dropbox', {
      ...common,
      versioned: true,
      serverAccessLogsBucket: this.accessLogs,
      serverAccessLogsPrefix: 'dropbox/',
      lifecycleRules: [
        {
          id: 'expire-removed-originals',
          noncurrentVersionExpiration: Duration.days(props.noncurrentVersionDays),
          abortIncompleteMultipartUploadAfter: Duration.days(7),
        },
        { id: 'drop-expired-delete-markers', expiredObjectDeleteMarker: true },
      ],
    });
    // EventBridge notifications through the L1 property: no extra custom-resource Lambda.
    const cfnDropbox = this.dropbox.node.defaultChild as s3.CfnBucket;
    cfnDropbox.notificationConfiguration = { eventBridgeConfiguration: { eventBridgeEnabled: true } };
    this.thumbnails = new s3.Bucket(this, 'Thumbnails', {
      ...common,
      serverAccessLogsBucket: this.accessLogs,
      serverAccessLogsPrefix: 'thumbnails/',
    });
  }
}
