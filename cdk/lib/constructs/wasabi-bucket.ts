/**
 * The archive bucket at Wasabi, made by `cdk deploy`: a CloudFormation custom resource
 * (`Custom::WasabiBucket`) whose handler is the `wasabi-bucket` Rust function behind CDK's
 * custom resource Provider framework. On Create and Update it creates the bucket with Object
 * Lock (and so versioning) and the default retention of `wasabiObjectLockMode` and
 * `wasabiRetentionDays` when it is missing, and checks it when it exists (versioning must be
 * on; Object Lock is reported in the resource's attributes, never changed); a wrong key, a
 * bucket of another account or versioning off fail the deploy with their own reason. On
 * Delete nothing is sent to Wasabi: the bucket and the archive in it are retained.
 *
 * The function signs with the setup key, the only one allowed to create buckets, and its role
 * may read that key's secret and nothing else (plus decrypting it when the secrets use a
 * customer-managed key). The framework's own function may only invoke it and write its logs.
 */
import { CfnElement, CustomResource, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as cr from 'aws-cdk-lib/custom-resources';
import { Construct } from 'constructs';
import { FunctionContract } from '../contract';
import { Settings, settingsEnvironment } from '../settings';
import { LOG_GROUP_WITHOUT_KMS, skipCheckov } from '../checkov';
import { grantWasabiSecret } from './functions';
import { PipelineFunction } from './pipeline-function';

/**
 * Its size: a handful of small bucket requests per deploy, so the smallest memory; a minute
 * covers the SDK's retries of each of them.
 */
export const WASABI_BUCKET_FUNCTION: FunctionContract = { memoryMb: 128, timeoutSeconds: 60, linksImaging: false };

/** The resource's CloudFormation type. */
export const WASABI_BUCKET_RESOURCE_TYPE = 'Custom::WasabiBucket';

export interface WasabiBucketProps {
  readonly settings: Settings;
}

export class WasabiBucket extends Construct {
  /** The Rust handler (`wasabi-bucket`). */
  readonly handler: PipelineFunction;
  /** The custom resource: its attributes are the handler's `Data` (`ObjectLock`, `DefaultRetention`, …). */
  readonly resource: CustomResource;
  /** The handler's and the framework's log groups. */
  readonly logGroups: logs.ILogGroup[];

  constructor(scope: Construct, id: string, props: WasabiBucketProps) {
    super(scope, id);
    const { settings } = props;
    this.handler = new PipelineFunction(this, 'Handler', {
      binaryName: 'wasabi-bucket',
      description: 'photopipe Wasabi archive bucket: creates or checks it on cdk deploy',
      contract: WASABI_BUCKET_FUNCTION,
      environment: settingsEnvironment(settings, 'wasabiEndpoint', 'wasabiRegion', 'wasabiBucket', 'wasabiSetupSecretName'),
      // Wasabi is not AWS: its rights are the setup key's policy (README); in AWS the function
      // only reads that key's secret (below).
      statements: [],
      objectWildcards: [],
      reason: 'no object wildcards',
      logRetentionDays: settings.logRetentionDays,
    });
    grantWasabiSecret(this, 'SetupSecret', this.handler, settings.wasabiSetupSecretName, settings.wasabiSecretKmsKeyArn);

    const frameworkLogs = new logs.LogGroup(this, 'ProviderLogs', {
      retention: settings.logRetentionDays as logs.RetentionDays,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    skipCheckov(frameworkLogs, LOG_GROUP_WITHOUT_KMS);
    const frameworkRole = new iam.Role(this, 'ProviderRole', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: 'photopipe Wasabi bucket: the custom resource framework',
    });
    const provider = new cr.Provider(this, 'Provider', {
      onEventHandler: this.handler,
      logGroup: frameworkLogs,
      frameworkOnEventRole: frameworkRole,
    });
    new iam.Policy(this, 'ProviderAccess', {
      roles: [frameworkRole],
      statements: [new iam.PolicyStatement({ actions: ['logs:CreateLogStream', 'logs:PutLogEvents'], resources: [frameworkLogs.logGroupArn] })],
    });
    const onEvent = provider.node.findChild('framework-onEvent') as lambda.Function;
    skipCheckov(
      onEvent,
      { id: 'CKV_AWS_116', comment: 'CloudFormation calls the framework once per deploy and waits for its answer; a failure fails the deploy, so there is nothing for a dead-letter queue to hold.' },
      { id: 'CKV_AWS_117', comment: 'The framework reaches only public endpoints (Lambda, the CloudFormation response URL); a VPC would add NAT gateways and protect nothing.' },
      { id: 'CKV_AWS_173', comment: "The environment names the handler function only (the framework's own USER_ON_EVENT_FUNCTION_ARN), never a secret." },
      { id: 'CKV_AWS_115', comment: 'It runs once per deploy of this stack; reserving concurrency for it would only take it from the account.' },
    );
    const stack = Stack.of(this);
    const handlerId = stack.resolve(stack.getLogicalId(this.handler.node.defaultChild as CfnElement));
    Validations.of(frameworkRole).acknowledge({
      id: `AwsSolutions-IAM5[Resource::<${handlerId}.Arn>:*]`,
      reason: 'The Provider framework invokes the handler by its ARN and any of its versions (lambda:InvokeFunction on <arn>:*); the handler is this one function.',
    });

    this.logGroups = [this.handler.logGroup, frameworkLogs];
    this.resource = new CustomResource(this, 'Resource', {
      serviceToken: provider.serviceToken,
      resourceType: WASABI_BUCKET_RESOURCE_TYPE,
      properties: {
        BucketName: settings.wasabiBucket,
        ObjectLockMode: settings.wasabiObjectLockMode,
        RetentionDays: `${settings.wasabiRetentionDays}`,
      },
      // The handler's Delete leaves the bucket at Wasabi whatever the policy; RETAIN also keeps
      // CloudFormation from sending it one when the resource leaves the template.
      removalPolicy: RemovalPolicy.RETAIN,
    });
  }
}
