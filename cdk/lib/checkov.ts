/**
 * checkov (run on the synthesized templates by `cdk/test/checkov.test.ts`) skips a check on
 * one resource, never globally, when the check does not fit that resource: the skip and its
 * reason go in the resource's `Metadata.checkov.skip`, checkov's own in-template syntax, as
 * cdk-nag's acknowledgements go beside the construct they excuse.
 */
import { CfnResource } from 'aws-cdk-lib';
import { IConstruct } from 'constructs';

/** One checkov check skipped on a resource, and why. */
export interface CheckovSkip {
  readonly id: string;
  readonly comment: string;
}

/** Skips each check on `construct`'s CloudFormation resource (the construct itself or its default child). */
export function skipCheckov(construct: IConstruct, ...skips: CheckovSkip[]): void {
  const resource = CfnResource.isCfnResource(construct) ? construct : construct.node.defaultChild;
  if (!CfnResource.isCfnResource(resource)) {
    throw new Error(`${construct.node.path} has no CloudFormation resource to skip checkov checks on`);
  }
  const existing = (resource.getMetadata('checkov')?.skip ?? []) as CheckovSkip[];
  resource.addMetadata('checkov', { skip: [...existing, ...skips] });
}

/**
 * The reasons shared by more than one resource. Log groups: CloudWatch Logs encrypts every
 * log group at rest already; a customer-managed key would need a key policy for the Logs
 * service and would add a KMS request to every read, for logs that hold step results and
 * key names, not photo bytes.
 */
export const LOG_GROUP_WITHOUT_KMS: CheckovSkip = {
  id: 'CKV_AWS_158',
  comment: 'CloudWatch Logs encrypts log groups at rest already; these hold step results and object keys, never photo bytes, and a customer-managed key would only add a key policy and a KMS call per read.',
};

/** The checks that do not fit a pipeline function (each reason says why). */
export const PIPELINE_FUNCTION_SKIPS: CheckovSkip[] = [
  {
    id: 'CKV_AWS_116',
    comment: 'Step Functions invokes the function synchronously and its Retry/Catch handle every failure; a Lambda dead-letter queue only ever receives asynchronous invocations.',
  },
  {
    id: 'CKV_AWS_117',
    comment: 'The function reaches only public endpoints (S3, Secrets Manager, Wasabi over HTTPS); a VPC would add NAT gateways and their cost and protect nothing.',
  },
  {
    id: 'CKV_AWS_173',
    comment: 'The environment holds bucket names, limits and a secret name, never a secret; Lambda encrypts it at rest with its service key already.',
  },
];

/** The function-level concurrency check, for a function left in the account's unreserved pool on purpose. */
export const UNRESERVED_CONCURRENCY: CheckovSkip = {
  id: 'CKV_AWS_115',
  comment: 'Concurrency is reserved where a burst would hurt (archive, towards Wasabi; see the reservedConcurrency setting); this function shares the unreserved pool so that a burst of uploads is not throttled for nothing.',
};
