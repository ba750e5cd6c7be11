/**
 * What people may do, as customer-managed policies to attach to users, groups or roles
 * (and, with `createGroups`, an IAM group for each):
 *
 * - **uploader**: put photos under `photos/` of the dropbox and list that prefix. Nothing
 *   else: no read-back, no delete, no versions, no tags (so an upload cannot carry the
 *   outcome tag the lifecycle expires versions by), no other prefix.
 * - **viewer**: read the thumbnails.
 * - **operator**: see the runs and their logs, start and redrive runs, read and clear the
 *   dead-letter queue, read the quarantine. Never delete an object.
 * - **auditor**: read what `photopipe status`, `audit` and `backfill`'s scan check: the
 *   dropbox's versions, their tags and bytes under `photos/`, the quarantine, the thumbnails,
 *   the runs, and the read-only Wasabi key's secret (to read the archive back). Nothing it
 *   may do writes; attach it with the operator's to backfill (which also starts runs).
 *
 * None of them may delete an object or a version; the buckets' guard rails would refuse it
 * anyway (`guard-rails.ts`).
 */
import { ArnFormat, CfnElement, Stack, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { PREFIXES } from '../contract';
import { executionsArn } from './state-machine';

export interface PeopleProps {
  readonly dropbox: s3.IBucket;
  readonly thumbnails: s3.IBucket;
  readonly stateMachine: sfn.StateMachine;
  /** The log groups the operator reads: each function's, the state machine's, the failed runs'. */
  readonly logGroups: logs.ILogGroup[];
  readonly deadLetters: sqs.IQueue;
  /** Also create a group for each policy. */
  readonly createGroups: boolean;
  /** The secret of the read-only Wasabi key, which the auditor reads the archive with. */
  readonly wasabiReadSecretName: string;
  /** The customer-managed KMS key of the Wasabi secrets, if any. */
  readonly wasabiSecretKmsKeyArn?: string;
}

/** The people's roles, in the order the outputs name them. */
export const PEOPLE = ['uploader', 'viewer', 'operator', 'auditor'] as const;
export type Person = (typeof PEOPLE)[number];

/** The logical id cdk-nag names a resource by in its finding ids. */
function logicalId(construct: Construct): string {
  const stack = Stack.of(construct);
  return stack.resolve(stack.getLogicalId(construct.node.defaultChild as CfnElement));
}

/** `s3:ListBucket` on `bucket`, only for keys under `prefix`. */
function listUnder(bucket: s3.IBucket, prefix: string): iam.PolicyStatement {
  return new iam.PolicyStatement({
    actions: ['s3:ListBucket'],
    resources: [bucket.bucketArn],
    conditions: { StringLike: { 's3:prefix': [`${prefix}*`] } },
  });
}

export class People extends Construct {
  readonly policies: { readonly [person in Person]: iam.ManagedPolicy };
  /** The groups, when `createGroups` is set. */
  readonly groups?: { readonly [person in Person]: iam.Group };

  constructor(scope: Construct, id: string, props: PeopleProps) {
    super(scope, id);
    const { dropbox, thumbnails, stateMachine, deadLetters } = props;

    const uploads = [
      new iam.PolicyStatement({ actions: ['s3:PutObject'], resources: [dropbox.arnForObjects(`${PREFIXES.photos}*`)] }),
      listUnder(dropbox, PREFIXES.photos),
    ];
    if (dropbox.encryptionKey) {
      // SSE-KMS: a PutObject makes a data key; a multipart upload (the CLI's for files over
      // 8 MiB) also decrypts it for each part.
      uploads.push(new iam.PolicyStatement({ actions: ['kms:GenerateDataKey', 'kms:Decrypt'], resources: [dropbox.encryptionKey.keyArn] }));
    }
    const uploader = new iam.ManagedPolicy(this, 'Uploader', {
      description: `photopipe uploader: put photos under ${PREFIXES.photos} of the dropbox and list them; nothing else`,
      statements: uploads,
    });

    const viewing = [
      new iam.PolicyStatement({ actions: ['s3:GetObject'], resources: [thumbnails.arnForObjects('*')] }),
      new iam.PolicyStatement({ actions: ['s3:ListBucket'], resources: [thumbnails.bucketArn] }),
    ];
    if (thumbnails.encryptionKey) {
      viewing.push(new iam.PolicyStatement({ actions: ['kms:Decrypt'], resources: [thumbnails.encryptionKey.keyArn] }));
    }
    const viewer = new iam.ManagedPolicy(this, 'Viewer', {
      description: 'photopipe viewer: read the thumbnails',
      statements: viewing,
    });

    const stack = Stack.of(this);
    const executions = executionsArn(stateMachine);
    const operating = [
      new iam.PolicyStatement({
        actions: ['states:DescribeStateMachine', 'states:ListExecutions', 'states:StartExecution'],
        resources: [stateMachine.stateMachineArn],
      }),
      new iam.PolicyStatement({
        // DescribeStateMachineForExecution: the console's page of one run (its graph).
        actions: ['states:DescribeExecution', 'states:DescribeStateMachineForExecution', 'states:GetExecutionHistory', 'states:RedriveExecution'],
        resources: [executions],
      }),
      // Listing state machines has no resource-level permission.
      new iam.PolicyStatement({ actions: ['states:ListStateMachines'], resources: ['*'] }),
      new iam.PolicyStatement({
        actions: ['logs:DescribeLogStreams', 'logs:FilterLogEvents', 'logs:GetLogEvents'],
        // A log group's Arn attribute ends in `:*`, which covers its streams (GetLogEvents).
        resources: props.logGroups.map((group) => group.logGroupArn),
      }),
      new iam.PolicyStatement({
        // DeleteMessage belongs: a message in the dead-letter queue is an upload event that
        // could not start a run, not the upload itself (the original stays in the versioned
        // dropbox, and the reconciler finds it). Once the operator has started its run
        // (StartExecution above, with the message as the input) deleting the message is how
        // it is marked done; without it every message comes back after its visibility timeout
        // and the queue's alarm never clears until the 14-day retention drops it.
        actions: ['sqs:DeleteMessage', 'sqs:GetQueueAttributes', 'sqs:ReceiveMessage'],
        resources: [deadLetters.queueArn],
      }),
      new iam.PolicyStatement({ actions: ['s3:GetObject'], resources: [dropbox.arnForObjects(`${PREFIXES.quarantine}*`)] }),
      listUnder(dropbox, PREFIXES.quarantine),
      // The `photopipe` CLI finds the buckets and the state machine in this stack's outputs.
      new iam.PolicyStatement({ actions: ['cloudformation:DescribeStacks'], resources: [Stack.of(this).stackId] }),
    ];
    if (dropbox.encryptionKey) {
      operating.push(new iam.PolicyStatement({ actions: ['kms:Decrypt'], resources: [dropbox.encryptionKey.keyArn] }));
    }
    const operator = new iam.ManagedPolicy(this, 'Operator', {
      description: 'photopipe operator: watch, start and redrive runs, read their logs, the dead-letter queue and the quarantine; never delete an object',
      statements: operating,
    });

    const auditing = [
      new iam.PolicyStatement({
        actions: ['s3:ListBucket', 's3:ListBucketVersions'],
        resources: [dropbox.bucketArn],
        conditions: { StringLike: { 's3:prefix': [`${PREFIXES.photos}*`, `${PREFIXES.quarantine}*`] } },
      }),
      // An upload's bytes (audit hashes each version), its outcome tag, and its versions.
      new iam.PolicyStatement({
        actions: ['s3:GetObject', 's3:GetObjectTagging', 's3:GetObjectVersion', 's3:GetObjectVersionTagging'],
        resources: [dropbox.arnForObjects(`${PREFIXES.photos}*`)],
      }),
      new iam.PolicyStatement({ actions: ['s3:GetObject'], resources: [dropbox.arnForObjects(`${PREFIXES.quarantine}*`), thumbnails.arnForObjects('*')] }),
      new iam.PolicyStatement({ actions: ['s3:ListBucket'], resources: [thumbnails.bucketArn] }),
      new iam.PolicyStatement({ actions: ['states:ListExecutions'], resources: [stateMachine.stateMachineArn] }),
      new iam.PolicyStatement({ actions: ['states:DescribeExecution', 'states:GetExecutionHistory'], resources: [executions] }),
      new iam.PolicyStatement({
        actions: ['secretsmanager:GetSecretValue'],
        // Secrets Manager appends six random characters to a secret's name in its ARN.
        resources: [stack.formatArn({ service: 'secretsmanager', resource: 'secret', resourceName: `${props.wasabiReadSecretName}-??????`, arnFormat: ArnFormat.COLON_RESOURCE_NAME })],
      }),
      new iam.PolicyStatement({ actions: ['cloudformation:DescribeStacks'], resources: [stack.stackId] }),
    ];
    if (dropbox.encryptionKey) {
      auditing.push(new iam.PolicyStatement({ actions: ['kms:Decrypt'], resources: [dropbox.encryptionKey.keyArn] }));
    }
    if (props.wasabiSecretKmsKeyArn !== undefined) {
      auditing.push(
        new iam.PolicyStatement({
          actions: ['kms:Decrypt'],
          resources: [props.wasabiSecretKmsKeyArn],
          conditions: { StringEquals: { 'kms:ViaService': `secretsmanager.${stack.region}.amazonaws.com` } },
        }),
      );
    }
    const auditor = new iam.ManagedPolicy(this, 'Auditor', {
      description: 'photopipe auditor: read the dropbox versions, tags and bytes, the quarantine, the thumbnails, the runs and the read-only Wasabi key; no write',
      statements: auditing,
    });
    this.policies = { uploader, viewer, operator, auditor };

    Validations.of(uploader).acknowledge({
      id: `AwsSolutions-IAM5[Resource::<${logicalId(dropbox)}.Arn>/${PREFIXES.photos}*]`,
      reason: `An uploader may put any key under ${PREFIXES.photos} (people choose their own folders and names), and only there.`,
    });
    Validations.of(viewer).acknowledge({
      id: `AwsSolutions-IAM5[Resource::<${logicalId(thumbnails)}.Arn>/*]`,
      reason: 'A viewer reads any thumbnail; thumbnail keys mirror upload paths, so no narrower prefix names them all.',
    });
    Validations.of(operator).acknowledge(
      {
        id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:execution:<${logicalId(stateMachine)}.Name>:*]`,
        reason: 'Execution ARNs are made per run; this is every execution of this state machine and of no other.',
      },
      {
        id: 'AwsSolutions-IAM5[Resource::*]',
        reason: 'states:ListStateMachines has no resource-level permission; it lists names and ARNs only.',
      },
      {
        id: `AwsSolutions-IAM5[Resource::<${logicalId(dropbox)}.Arn>/${PREFIXES.quarantine}*]`,
        reason: `An operator reads any quarantined upload and its reason, all under ${PREFIXES.quarantine}, and nothing else of the dropbox.`,
      },
    );

    Validations.of(auditor).acknowledge(
      {
        id: `AwsSolutions-IAM5[Resource::<${logicalId(dropbox)}.Arn>/${PREFIXES.photos}*]`,
        reason: `An audit reads every version of every upload under ${PREFIXES.photos} (and its outcome tag) to check each is archived, quarantined or in a run.`,
      },
      {
        id: `AwsSolutions-IAM5[Resource::<${logicalId(dropbox)}.Arn>/${PREFIXES.quarantine}*]`,
        reason: `An audit reads each quarantined copy and its reason, all under ${PREFIXES.quarantine}.`,
      },
      {
        id: `AwsSolutions-IAM5[Resource::<${logicalId(thumbnails)}.Arn>/*]`,
        reason: 'An audit checks each photo\'s thumbnails, whose keys mirror upload paths.',
      },
      {
        id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:execution:<${logicalId(stateMachine)}.Name>:*]`,
        reason: 'Execution ARNs are made per run; this is every execution of this state machine and of no other.',
      },
    );

    if (props.createGroups) {
      const group = (name: string, policy: iam.ManagedPolicy) => new iam.Group(this, name, { managedPolicies: [policy] });
      this.groups = {
        uploader: group('UploaderGroup', uploader),
        viewer: group('ViewerGroup', viewer),
        operator: group('OperatorGroup', operator),
        auditor: group('AuditorGroup', auditor),
      };
    }
  }
}
