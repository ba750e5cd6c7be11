/**
 * Guard rails in the dropbox's and the thumbnails' bucket policies: explicit Denies that no
 * IAM policy can outweigh (an administrator's `s3:*` included), so that a mistake in the
 * console, a script run with the wrong profile or a leaked key cannot remove what versioning
 * keeps, switch versioning or the lifecycle off, rewrite the policy or delete a bucket.
 *
 * Who is exempt, and from what:
 *
 * - The break-glass role (`breakGlassRoleArn`, optional; absent, nobody) from every rail.
 * - The stack's CloudFormation execution role (the bootstrap's
 *   `cdk-<qualifier>-cfn-exec-role-<account>-<region>`, the exact ARN this stack's synthesizer
 *   deploys with) only from changing the versioning, the lifecycle and the bucket policy,
 *   which a deploy does: every update of this stack rewrites the bucket policy and may change
 *   the lifecycle rules, and a `cdk destroy` deletes the policy (the buckets are retained).
 *   It may never delete a version or a bucket. It is matched by `aws:PrincipalArn`, which for
 *   a role's session is the role's ARN; `aws:CalledVia` is not used because CloudFormation
 *   acting through its service role calls S3 as that role, not on a caller's behalf. The
 *   price: whoever may deploy this stack may change these rails, through a reviewed deploy
 *   (a `cdk diff` shows it, CloudTrail records it) rather than a console click.
 * - The cleanup function's role from the rail on `s3:DeleteObject` under `photos/` (which in a
 *   versioned bucket only adds a delete marker): cleanup is what removes an upload once it is
 *   archived or quarantined; nobody else needs to.
 *
 * S3 Lifecycle's expirations are not requests by a principal, so the rails do not stop the
 * tagged noncurrent versions from expiring. The account's root user can still change or
 * delete a bucket policy whatever it says (S3's own way out of a lockout).
 */
import { DefaultStackSynthesizer, Fn, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { PREFIXES } from '../contract';

/** What a deploy changes in a bucket: the deploy role is exempt from denying these. */
export const DEPLOY_CHANGES = ['s3:PutBucketVersioning', 's3:PutLifecycleConfiguration', 's3:PutBucketPolicy', 's3:DeleteBucketPolicy'];

/**
 * The role CloudFormation deploys this stack with: the synthesizer's execution role, with
 * `${AWS::Partition}` and, for an environment-agnostic stack, the account and region left for
 * CloudFormation to fill in.
 */
export function deploymentRoleArn(scope: Construct): string {
  const synthesizer = Stack.of(scope).synthesizer;
  if (!(synthesizer instanceof DefaultStackSynthesizer)) {
    throw new Error(
      'the buckets\' guard rails exempt the CloudFormation execution role of the DefaultStackSynthesizer; with another synthesizer a deploy could not update the bucket policies',
    );
  }
  return Fn.sub(synthesizer.cloudFormationExecutionRoleArn);
}

export interface GuardRailsProps {
  readonly dropbox: s3.IBucket;
  readonly thumbnails: s3.IBucket;
  /** The only role (besides break-glass) that may remove an upload from `photos/`: cleanup's. */
  readonly uploadRemover: iam.IRole;
  /** Exempt from every rail; absent, nobody is. */
  readonly breakGlassRoleArn?: string;
}

/** A Deny for everyone but `exempt` (by `aws:PrincipalArn`); for everyone at all when `exempt` is empty. */
function denyUnless(sid: string, actions: string[], resources: string[], exempt: string[]): iam.PolicyStatement {
  return new iam.PolicyStatement({
    sid,
    effect: iam.Effect.DENY,
    principals: [new iam.AnyPrincipal()],
    actions,
    resources,
    conditions: exempt.length > 0 ? { ArnNotEquals: { 'aws:PrincipalArn': exempt } } : undefined,
  });
}

/** The rails of one bucket; `uploadRemover` given only for the dropbox. */
export function guardRailStatements(
  bucket: s3.IBucket,
  exempt: { deployment: string; breakGlass?: string; uploadRemover?: string },
): iam.PolicyStatement[] {
  const breakGlass = exempt.breakGlass === undefined ? [] : [exempt.breakGlass];
  const statements = [
    // Versioning keeps every original an overwrite or a delete marker hides; only the
    // lifecycle (for versions tagged archived or quarantined) may remove one.
    denyUnless('GuardRailKeepVersions', ['s3:DeleteObjectVersion'], [bucket.arnForObjects('*')], breakGlass),
    denyUnless('GuardRailKeepConfiguration', DEPLOY_CHANGES, [bucket.bucketArn], [exempt.deployment, ...breakGlass]),
    // The stack retains its buckets, so no deploy ever deletes one.
    denyUnless('GuardRailKeepBucket', ['s3:DeleteBucket'], [bucket.bucketArn], breakGlass),
  ];
  if (exempt.uploadRemover !== undefined) {
    statements.push(
      denyUnless('GuardRailUploadsRemovedByCleanup', ['s3:DeleteObject'], [bucket.arnForObjects(`${PREFIXES.photos}*`)], [exempt.uploadRemover, ...breakGlass]),
    );
  }
  return statements;
}

/** Adds the rails to both buckets' policies (the ones `enforceSSL` already made). */
export function addGuardRails(scope: Construct, props: GuardRailsProps): void {
  const deployment = deploymentRoleArn(scope);
  const breakGlass = props.breakGlassRoleArn;
  for (const statement of guardRailStatements(props.dropbox, { deployment, breakGlass, uploadRemover: props.uploadRemover.roleArn })) {
    props.dropbox.addToResourcePolicy(statement);
  }
  for (const statement of guardRailStatements(props.thumbnails, { deployment, breakGlass })) {
    props.thumbnails.addToResourcePolicy(statement);
  }
}
