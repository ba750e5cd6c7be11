/**
 * The reconciler: the `reconcile` Rust function, run every `reconcileEveryMinutes` by an
 * EventBridge schedule. It lists `photos/` of the dropbox, starts each original that has
 * waited longer than `reconcileAfterMinutes` with no running or redrivable run (its event
 * was lost, or the rule was off) under a name derived from the exact version, so nothing runs
 * twice, and publishes the age of the oldest original still waiting
 * (`OldestWaitingOriginalSeconds`, the Operations construct's alarm). Its role may do exactly
 * that: list `photos/`, read the objects' heads there, list the state machine's executions
 * and describe them, start executions of it, and put metric data into the `photopipe`
 * namespace alone.
 *
 * It is not in `contract/functions.json`: that file lists the state machine's four steps,
 * which the local Lambda host runs; the end-to-end test runs the reconciler's handler with
 * the local stack's clients instead.
 */
import { CfnElement, Duration, Stack, Validations } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { CheckovSkip } from '../checkov';
import { FunctionContract, PREFIXES, RECONCILER } from '../contract';
import { PipelineFunction } from './pipeline-function';
import { executionsArn } from './state-machine';

/**
 * Its size: a scan holds one listing page and the originals older than the age (a few hundred
 * bytes each), so the smallest arm64 memory that leaves the SDK its TLS and connection pool is
 * plenty; five minutes covers a backlog of tens of thousands (ten starts in flight at once).
 */
export const RECONCILER_FUNCTION: FunctionContract = { memoryMb: 256, timeoutSeconds: 300, linksImaging: false };

/** The checkov checks that do not fit the reconciler, and why. */
export const RECONCILER_CHECKOV_SKIPS: CheckovSkip[] = [
  {
    id: 'CKV_AWS_116',
    comment: 'An EventBridge schedule invokes it; a failed run leaves nothing to replay (the next scheduled run scans again) and its Errors alarm tells, so a dead-letter queue would hold only stale schedule events.',
  },
  {
    id: 'CKV_AWS_117',
    comment: 'It reaches only public AWS endpoints (S3, Step Functions, CloudWatch); a VPC would add NAT gateways or interface endpoints and their cost and protect nothing.',
  },
  {
    id: 'CKV_AWS_173',
    comment: 'The environment holds a bucket name, the state machine ARN and a number of minutes, never a secret; Lambda encrypts it at rest with its service key already.',
  },
  {
    id: 'CKV_AWS_115',
    comment: 'One scheduled invocation every reconcileEveryMinutes; two overlapping runs never start an original twice (deterministic execution names), so reserved concurrency would only take capacity from the account pool.',
  },
];

export interface ReconcilerProps {
  readonly dropbox: s3.IBucket;
  readonly stateMachine: sfn.StateMachine;
  /** Minutes between runs. */
  readonly everyMinutes: number;
  /** Minutes an original waits under `photos/` before it is started. */
  readonly afterMinutes: number;
  /** Days its log group keeps events. */
  readonly logRetentionDays: number;
}

export class Reconciler extends Construct {
  readonly function: PipelineFunction;
  readonly schedule: events.Rule;

  constructor(scope: Construct, id: string, props: ReconcilerProps) {
    super(scope, id);
    const { dropbox, stateMachine } = props;
    const stack = Stack.of(this);
    const executions = executionsArn(stateMachine);
    const photos = `${PREFIXES.photos}*`;
    const env = RECONCILER.environment;
    this.function = new PipelineFunction(this, 'Reconcile', {
      binaryName: 'reconcile',
      description: 'photopipe reconciler: starts the originals whose run never started, publishes the oldest waiting',
      contract: RECONCILER_FUNCTION,
      environment: {
        [env.dropboxBucket]: dropbox.bucketName,
        [env.stateMachineArn]: stateMachine.stateMachineArn,
        [env.afterMinutes]: `${props.afterMinutes}`,
      },
      statements: [
        new iam.PolicyStatement({ actions: ['s3:ListBucket'], resources: [dropbox.bucketArn], conditions: { StringLike: { 's3:prefix': [photos] } } }),
        // HeadObject of each original older than the age, for its current version id.
        new iam.PolicyStatement({ actions: ['s3:GetObject'], resources: [dropbox.arnForObjects(photos)] }),
        new iam.PolicyStatement({ actions: ['states:ListExecutions', 'states:StartExecution'], resources: [stateMachine.stateMachineArn] }),
        new iam.PolicyStatement({ actions: ['states:DescribeExecution'], resources: [executions] }),
        // PutMetricData has no resource-level permission; the condition holds it to our namespace.
        new iam.PolicyStatement({
          actions: ['cloudwatch:PutMetricData'],
          resources: ['*'],
          conditions: { StringEquals: { 'cloudwatch:namespace': RECONCILER.metric.namespace } },
        }),
      ],
      objectWildcards: [{ bucket: dropbox, pattern: photos }],
      reason: `The reconciler reads the head of any original under ${PREFIXES.photos} (its version id) and nothing else.`,
      logRetentionDays: props.logRetentionDays,
      checkovSkips: RECONCILER_CHECKOV_SKIPS,
    });
    const logicalId = stack.resolve(stack.getLogicalId(stateMachine.node.defaultChild as CfnElement));
    Validations.of(this.function.access).acknowledge(
      {
        id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:execution:<${logicalId}.Name>:*]`,
        reason: 'Execution ARNs are made per run; the reconciler describes any execution of this state machine (to read which original it is about) and of no other.',
      },
      {
        id: 'AwsSolutions-IAM5[Resource::*]',
        reason: `cloudwatch:PutMetricData supports no resource-level permission; the statement's cloudwatch:namespace condition limits it to ${RECONCILER.metric.namespace}.`,
      },
    );
    this.schedule = new events.Rule(this, 'Schedule', {
      description: `Runs the photopipe reconciler every ${props.everyMinutes} minutes`,
      schedule: events.Schedule.rate(Duration.minutes(props.everyMinutes)),
      // One attempt: the next run comes soon and does the same work.
      targets: [new targets.LambdaFunction(this.function, { retryAttempts: 0 })],
    });
  }
}
