/**
 * The state machine, loaded from `statemachine/pipeline.asl.json` (the definition the local
 * run executes too) with its function ARNs substituted, logging every state's transitions
 * (without their input and output unless asked) and traced by X-Ray, and the EventBridge rule
 * that starts it for every upload under `photos/` of the dropbox.
 */
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { ArnFormat, Duration, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { LOG_GROUP_WITHOUT_KMS, skipCheckov } from '../checkov';
import { PREFIXES, SETTINGS } from '../contract';

export const DEFINITION_FILE = path.join(__dirname, '..', '..', '..', 'statemachine', 'pipeline.asl.json');

export interface PipelineStateMachineProps {
  readonly validate: lambda.IFunction;
  readonly thumbnail: lambda.IFunction;
  readonly archive: lambda.IFunction;
  readonly cleanup: lambda.IFunction;
  /** Days the state machine's log group keeps events: one of CloudWatch Logs' retention periods. */
  readonly logRetentionDays: number;
  /**
   * Whether log events carry each state's input and output: the upload's key and bucket,
   * its checksum, the thumbnails' and archive copy's keys, a rejection's cause. The execution
   * history keeps them either way (for 90 days), for whoever may read it.
   */
  readonly logExecutionData: boolean;
  /** Every retrier's waits cut to `contract/settings.json`'s `retries.fast`, attempts unchanged. */
  readonly fastRetries: boolean;
}

/** The ARN pattern of every execution of `stateMachine` (and of no other state machine). */
export function executionsArn(stateMachine: sfn.StateMachine): string {
  return Stack.of(stateMachine).formatArn({
    service: 'states',
    resource: 'execution',
    resourceName: `${stateMachine.stateMachineName}:*`,
    arnFormat: ArnFormat.COLON_RESOURCE_NAME,
  });
}

/**
 * The definition with every retrier's `IntervalSeconds` and `MaxDelaySeconds` set to the
 * contract's fast values (what the local run's `--fast-retries` does too), the errors and
 * attempts unchanged.
 */
export function withFastRetries(definition: string): string {
  const asl = JSON.parse(definition) as { States: Record<string, { Retry?: Record<string, unknown>[] }> };
  const { intervalSeconds, maxDelaySeconds } = SETTINGS.retries.fast;
  for (const state of Object.values(asl.States)) {
    for (const retrier of state.Retry ?? []) {
      retrier.IntervalSeconds = intervalSeconds;
      retrier.MaxDelaySeconds = maxDelaySeconds;
    }
  }
  return JSON.stringify(asl, null, 2);
}

export class PipelineStateMachine extends Construct {
  readonly stateMachine: sfn.StateMachine;
  /** Where the state machine logs (level ALL). */
  readonly logGroup: logs.LogGroup;

  constructor(scope: Construct, id: string, props: PipelineStateMachineProps) {
    super(scope, id);
    const functions = [props.validate, props.thumbnail, props.archive, props.cleanup];
    const logGroup = new logs.LogGroup(this, 'Logs', {
      retention: props.logRetentionDays as logs.RetentionDays,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    this.logGroup = logGroup;
    skipCheckov(logGroup, LOG_GROUP_WITHOUT_KMS);
    this.stateMachine = new sfn.StateMachine(this, 'StateMachine', {
      stateMachineType: sfn.StateMachineType.STANDARD,
      definitionBody: sfn.DefinitionBody.fromString(
        props.fastRetries ? withFastRetries(readFileSync(DEFINITION_FILE, 'utf8')) : readFileSync(DEFINITION_FILE, 'utf8'),
      ),
      definitionSubstitutions: {
        ValidateFunctionArn: props.validate.functionArn,
        ThumbnailFunctionArn: props.thumbnail.functionArn,
        ArchiveFunctionArn: props.archive.functionArn,
        CleanupFunctionArn: props.cleanup.functionArn,
      },
      logs: { destination: logGroup, level: sfn.LogLevel.ALL, includeExecutionData: props.logExecutionData },
      tracingEnabled: true,
    });
    this.stateMachine.addToRolePolicy(
      new iam.PolicyStatement({ actions: ['lambda:InvokeFunction'], resources: functions.map((fn) => fn.functionArn) }),
    );
    Validations.of(this.stateMachine).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason: 'Log delivery (logs:*LogDelivery*, resource *) and X-Ray segments (resource *) cannot be scoped further; AWS requires *.',
    });
  }
}

export interface UploadTriggerProps {
  readonly dropbox: s3.IBucket;
  readonly stateMachine: sfn.IStateMachine;
}

/** Object Created under `photos/` → StartExecution; events that cannot start one go to a DLQ. */
export class UploadTrigger extends Construct {
  readonly rule: events.Rule;
  readonly deadLetters: sqs.Queue;

  constructor(scope: Construct, id: string, props: UploadTriggerProps) {
    super(scope, id);
    this.deadLetters = new sqs.Queue(this, 'DeadLetters', {
      enforceSSL: true,
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      retentionPeriod: Duration.days(14),
    });
    skipCheckov(this.deadLetters, {
      id: 'CKV_AWS_27',
      comment: 'Encrypted at rest with SQS-managed keys (SSE-SQS); the check accepts only a KMS key, which EventBridge would then need a key policy to use, for events that carry bucket and key names.',
    });
    Validations.of(this.deadLetters).acknowledge({
      id: 'AwsSolutions-SQS3',
      reason: 'This queue is itself the dead-letter queue of the upload rule.',
    });
    this.rule = new events.Rule(this, 'ObjectCreated', {
      description: `Starts the photopipe state machine for every upload under ${PREFIXES.photos} of the dropbox`,
      eventPattern: {
        source: ['aws.s3'],
        detailType: ['Object Created'],
        detail: {
          bucket: { name: [props.dropbox.bucketName] },
          object: { key: events.Match.prefix(PREFIXES.photos) },
        },
      },
    });
    this.rule.addTarget(
      new targets.SfnStateMachine(props.stateMachine, {
        deadLetterQueue: this.deadLetters,
        retryAttempts: 185,
        maxEventAge: Duration.hours(24),
      }),
    );
  }
}
