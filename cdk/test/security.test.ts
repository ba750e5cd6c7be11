/** Who may do what: the people's managed policies (and groups), and the guard rails in the buckets' policies. */
import { App, CliCredentialsStackSynthesizer, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { PREFIXES } from '../lib/contract';
import { DEPLOY_CHANGES } from '../lib/constructs/guard-rails';
import { PEOPLE, People } from '../lib/constructs/people';
import { PhotopipeStack } from '../lib/photopipe-stack';
import { parseSettings } from '../lib/settings';
import { arnOf, cdkContext, idOf, objectsOf, only, synthTemplate } from './synth';

const template = synthTemplate();
const dropbox = idOf(template, 'AWS::S3::Bucket', 'BucketsDropbox');
const thumbnails = idOf(template, 'AWS::S3::Bucket', 'BucketsThumbnails');
const stateMachine = idOf(template, 'AWS::StepFunctions::StateMachine', 'PipelineStateMachine');
const queue = idOf(template, 'AWS::SQS::Queue', 'TriggerDeadLetters');
const cleanupRole = idOf(template, 'AWS::IAM::Role', 'FunctionsCleanupRole');
const logGroup = (prefix: string) => idOf(template, 'AWS::Logs::LogGroup', prefix);

/** A managed policy's statements, by its construct id under People. */
const statements = (synthesized: Template, person: string) => only(synthesized, 'AWS::IAM::ManagedPolicy', `People${person}`)[1].PolicyDocument.Statement;
const actionsOf = (statement: { Action: string | string[] }) => [statement.Action].flat();

describe("the people's policies", () => {
  test(`uploader: PutObject under ${PREFIXES.photos} of the dropbox and ListBucket of that prefix, nothing else`, () => {
    expect(statements(template, 'Uploader')).toEqual([
      { Effect: 'Allow', Action: 's3:PutObject', Resource: objectsOf(dropbox, 'photos/*') },
      { Effect: 'Allow', Action: 's3:ListBucket', Resource: arnOf(dropbox), Condition: { StringLike: { 's3:prefix': ['photos/*'] } } },
    ]);
  });

  test('viewer: GetObject and ListBucket of the thumbnails bucket', () => {
    expect(statements(template, 'Viewer')).toEqual([
      { Effect: 'Allow', Action: 's3:GetObject', Resource: objectsOf(thumbnails, '*') },
      { Effect: 'Allow', Action: 's3:ListBucket', Resource: arnOf(thumbnails) },
    ]);
  });

  test('operator: the state machine and its executions, the logs, the dead-letter queue and the quarantine', () => {
    const executions = {
      'Fn::Join': [
        '',
        ['arn:', { Ref: 'AWS::Partition' }, ':states:', { Ref: 'AWS::Region' }, ':', { Ref: 'AWS::AccountId' }, ':execution:', { 'Fn::GetAtt': [stateMachine, 'Name'] }, ':*'],
      ],
    };
    const logGroups = ['FunctionsArchiveLogs', 'FunctionsCleanupLogs', 'FunctionsThumbnailLogs', 'FunctionsValidateLogs', 'OperationsFailedRuns', 'PipelineLogs', 'ReconcilerReconcileLogs', 'WasabiBucketHandlerLogs', 'WasabiBucketProviderLogs'].map((prefix) =>
      arnOf(logGroup(prefix)),
    );
    expect(statements(template, 'Operator')).toEqual([
      { Effect: 'Allow', Action: ['states:DescribeStateMachine', 'states:ListExecutions', 'states:StartExecution'], Resource: { Ref: stateMachine } },
      {
        Effect: 'Allow',
        Action: ['states:DescribeExecution', 'states:DescribeStateMachineForExecution', 'states:GetExecutionHistory', 'states:RedriveExecution'],
        Resource: executions,
      },
      { Effect: 'Allow', Action: 'states:ListStateMachines', Resource: '*' },
      { Effect: 'Allow', Action: ['logs:DescribeLogStreams', 'logs:FilterLogEvents', 'logs:GetLogEvents'], Resource: logGroups },
      { Effect: 'Allow', Action: ['sqs:DeleteMessage', 'sqs:GetQueueAttributes', 'sqs:ReceiveMessage'], Resource: arnOf(queue) },
      { Effect: 'Allow', Action: 's3:GetObject', Resource: objectsOf(dropbox, 'rejected/*') },
      { Effect: 'Allow', Action: 's3:ListBucket', Resource: arnOf(dropbox), Condition: { StringLike: { 's3:prefix': ['rejected/*'] } } },
      { Effect: 'Allow', Action: 'cloudformation:DescribeStacks', Resource: { Ref: 'AWS::StackId' } },
    ]);
  });

  test('auditor: reads the uploads with their versions and tags, the quarantine, the thumbnails, the runs and the read key\'s secret; nothing else', () => {
    const executions = {
      'Fn::Join': [
        '',
        ['arn:', { Ref: 'AWS::Partition' }, ':states:', { Ref: 'AWS::Region' }, ':', { Ref: 'AWS::AccountId' }, ':execution:', { 'Fn::GetAtt': [stateMachine, 'Name'] }, ':*'],
      ],
    };
    const readSecret = {
      'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':secretsmanager:', { Ref: 'AWS::Region' }, ':', { Ref: 'AWS::AccountId' }, ':secret:demo/wasabi/read-??????']],
    };
    expect(statements(template, 'Auditor')).toEqual([
      { Effect: 'Allow', Action: ['s3:ListBucket', 's3:ListBucketVersions'], Resource: arnOf(dropbox), Condition: { StringLike: { 's3:prefix': ['photos/*', 'rejected/*'] } } },
      { Effect: 'Allow', Action: ['s3:GetObject', 's3:GetObjectTagging', 's3:GetObjectVersion', 's3:GetObjectVersionTagging'], Resource: objectsOf(dropbox, 'photos/*') },
      { Effect: 'Allow', Action: 's3:GetObject', Resource: [objectsOf(dropbox, 'rejected/*'), objectsOf(thumbnails, '*')] },
      { Effect: 'Allow', Action: 's3:ListBucket', Resource: arnOf(thumbnails) },
      { Effect: 'Allow', Action: 'states:ListExecutions', Resource: { Ref: stateMachine } },
      { Effect: 'Allow', Action: ['states:DescribeExecution', 'states:GetExecutionHistory'], Resource: executions },
      { Effect: 'Allow', Action: 'secretsmanager:GetSecretValue', Resource: readSecret },
      { Effect: 'Allow', Action: 'cloudformation:DescribeStacks', Resource: { Ref: 'AWS::StackId' } },
    ]);
  });

  test('the operator reads every log group of the stack', () => {
    const read = statements(template, 'Operator').find((s: { Action: string[] }) => actionsOf(s).includes('logs:GetLogEvents')).Resource;
    expect(read).toHaveLength(Object.keys(template.findResources('AWS::Logs::LogGroup')).length);
  });

  test('no policy deletes anything but a dead-letter message (the operator\'s), nor names an action by wildcard, nor reaches a version or a tag but the auditor\'s reads', () => {
    const auditorReads = ['s3:GetObjectTagging', 's3:GetObjectVersion', 's3:GetObjectVersionTagging', 's3:ListBucketVersions'];
    for (const person of ['Uploader', 'Viewer', 'Operator', 'Auditor']) {
      const actions = statements(template, person).flatMap(actionsOf);
      expect([person, actions.filter((action: string) => /Delete/.test(action))]).toEqual([person, person === 'Operator' ? ['sqs:DeleteMessage'] : []]);
      const reaching = actions.filter((action: string) => /\*|Version|Tagging|Acl|Policy|Lifecycle|Restore/.test(action)).sort();
      expect([person, reaching]).toEqual([person, person === 'Auditor' ? auditorReads : []]);
      expect([person, JSON.stringify(statements(template, person))]).not.toEqual([person, expect.stringMatching(/"Deny"|"NotAction"|"NotResource"/)]);
    }
  });

  test('only the operator reaches beyond the buckets, and only the uploader writes', () => {
    const writes = /s3:Put|s3:Abort|s3:Restore|s3:Replicate/;
    expect(statements(template, 'Viewer').flatMap(actionsOf).filter((a: string) => writes.test(a))).toEqual([]);
    expect(statements(template, 'Operator').flatMap(actionsOf).filter((a: string) => writes.test(a))).toEqual([]);
    expect(statements(template, 'Auditor').flatMap(actionsOf).filter((a: string) => writes.test(a) || /states:(Start|Redrive|Stop)|sqs:|Delete/.test(a))).toEqual([]);
    expect(statements(template, 'Uploader').flatMap(actionsOf).filter((a: string) => !a.startsWith('s3:'))).toEqual([]);
  });

  test('the outputs name each policy; no groups unless asked', () => {
    const outputs = template.toJSON().Outputs;
    for (const person of ['Uploader', 'Viewer', 'Operator', 'Auditor']) {
      expect(outputs[`${person}PolicyArn`].Value).toEqual({ Ref: idOf(template, 'AWS::IAM::ManagedPolicy', `People${person}`) });
    }
    expect(template.findResources('AWS::IAM::Group')).toEqual({});
    expect(Object.keys(outputs).filter((name) => name.endsWith('GroupName'))).toEqual([]);
  });

  test('createGroups makes one group per policy, holding exactly it, named in the outputs', () => {
    const grouped = synthTemplate({ createGroups: true });
    const outputs = grouped.toJSON().Outputs;
    expect(Object.keys(grouped.findResources('AWS::IAM::Group'))).toHaveLength(PEOPLE.length);
    for (const person of ['Uploader', 'Viewer', 'Operator', 'Auditor']) {
      const [groupId, group] = only(grouped, 'AWS::IAM::Group', `People${person}Group`);
      expect(group).toEqual({ ManagedPolicyArns: [{ Ref: idOf(grouped, 'AWS::IAM::ManagedPolicy', `People${person}`) }] });
      expect(outputs[`${person}GroupName`].Value).toEqual({ Ref: groupId });
    }
  });

  describe('with SSE-KMS buckets', () => {
    // The stack's buckets use SSE-S3; the construct asks for the key when a bucket has one.
    const stack = new Stack(new App({ context: cdkContext }), 'Kms');
    const key = new kms.Key(stack, 'Key');
    const encrypted = (id: string) => new s3.Bucket(stack, id, { encryption: s3.BucketEncryption.KMS, encryptionKey: key });
    new People(stack, 'People', {
      dropbox: encrypted('Dropbox'),
      thumbnails: encrypted('Thumbnails'),
      stateMachine: new sfn.StateMachine(stack, 'Machine', { definitionBody: sfn.DefinitionBody.fromChainable(new sfn.Pass(stack, 'Pass')) }),
      logGroups: [new logs.LogGroup(stack, 'Logs')],
      deadLetters: new sqs.Queue(stack, 'Queue'),
      createGroups: false,
      wasabiReadSecretName: 'demo/wasabi/read',
    });
    const kmsTemplate = Template.fromStack(stack);
    const keyArn = arnOf(idOf(kmsTemplate, 'AWS::KMS::Key', 'Key'));
    const kmsStatements = (person: string) => statements(kmsTemplate, person).filter((s: { Action: string[] }) => actionsOf(s).some((a) => a.startsWith('kms:')));

    test('the uploader may make and decrypt data keys (a multipart upload decrypts one per part)', () => {
      expect(kmsStatements('Uploader')).toEqual([{ Effect: 'Allow', Action: ['kms:Decrypt', 'kms:GenerateDataKey'], Resource: keyArn }]);
    });
    test('the viewer, the operator and the auditor may decrypt', () => {
      expect(kmsStatements('Viewer')).toEqual([{ Effect: 'Allow', Action: 'kms:Decrypt', Resource: keyArn }]);
      expect(kmsStatements('Operator')).toEqual([{ Effect: 'Allow', Action: 'kms:Decrypt', Resource: keyArn }]);
      expect(kmsStatements('Auditor')).toEqual([{ Effect: 'Allow', Action: 'kms:Decrypt', Resource: keyArn }]);
    });
  });
});

/** The stack's CloudFormation execution role, as the bucket policies name it. */
const cfnExecRole = { 'Fn::Sub': 'arn:${AWS::Partition}:iam::${AWS::AccountId}:role/cdk-hnb659fds-cfn-exec-role-${AWS::AccountId}-${AWS::Region}' };
const BREAK_GLASS = 'arn:aws:iam::123456789012:role/break-glass';

/** A bucket policy's statements, less enforceSSL's. */
function guardRails(synthesized: Template, bucketPrefix: string): Record<string, unknown>[] {
  const bucket = idOf(synthesized, 'AWS::S3::Bucket', bucketPrefix);
  const [policy] = Object.values(synthesized.findResources('AWS::S3::BucketPolicy', { Properties: { Bucket: { Ref: bucket } } }));
  const all = policy.Properties.PolicyDocument.Statement as Record<string, unknown>[];
  const ssl = all.filter((s) => JSON.stringify(s.Condition ?? {}).includes('aws:SecureTransport'));
  expect(ssl).toHaveLength(1);
  return all.filter((s) => !ssl.includes(s));
}

describe('guard rails in the bucket policies', () => {
  const deny = (Sid: string, Action: string | string[], Resource: unknown, exempt?: unknown[]) => ({
    Sid,
    Effect: 'Deny',
    Principal: { AWS: '*' },
    Action,
    Resource,
    ...(exempt ? { Condition: { ArnNotEquals: { 'aws:PrincipalArn': exempt } } } : {}),
  });
  const configuration = ['s3:DeleteBucketPolicy', 's3:PutBucketPolicy', 's3:PutBucketVersioning', 's3:PutLifecycleConfiguration'];

  test('the dropbox: versions, its configuration and itself are kept from everyone; only the deploy changes the configuration; only cleanup removes an upload', () => {
    expect(guardRails(template, 'BucketsDropbox')).toEqual([
      deny('GuardRailKeepVersions', 's3:DeleteObjectVersion', objectsOf(dropbox, '*')),
      deny('GuardRailKeepConfiguration', configuration, arnOf(dropbox), [cfnExecRole]),
      deny('GuardRailKeepBucket', 's3:DeleteBucket', arnOf(dropbox)),
      deny('GuardRailUploadsRemovedByCleanup', 's3:DeleteObject', objectsOf(dropbox, 'photos/*'), [arnOf(cleanupRole)]),
    ]);
    expect([...DEPLOY_CHANGES].sort()).toEqual(configuration);
  });

  test('the thumbnails: the same rails, without the one on removing uploads', () => {
    expect(guardRails(template, 'BucketsThumbnails')).toEqual([
      deny('GuardRailKeepVersions', 's3:DeleteObjectVersion', objectsOf(thumbnails, '*')),
      deny('GuardRailKeepConfiguration', configuration, arnOf(thumbnails), [cfnExecRole]),
      deny('GuardRailKeepBucket', 's3:DeleteBucket', arnOf(thumbnails)),
    ]);
  });

  test('the break-glass role is exempt from every rail, and only it', () => {
    const withBreakGlass = synthTemplate({ breakGlassRoleArn: BREAK_GLASS });
    const box = idOf(withBreakGlass, 'AWS::S3::Bucket', 'BucketsDropbox');
    const thumbs = idOf(withBreakGlass, 'AWS::S3::Bucket', 'BucketsThumbnails');
    const cleanup = idOf(withBreakGlass, 'AWS::IAM::Role', 'FunctionsCleanupRole');
    expect(guardRails(withBreakGlass, 'BucketsDropbox')).toEqual([
      deny('GuardRailKeepVersions', 's3:DeleteObjectVersion', objectsOf(box, '*'), [BREAK_GLASS]),
      deny('GuardRailKeepConfiguration', configuration, arnOf(box), [cfnExecRole, BREAK_GLASS]),
      deny('GuardRailKeepBucket', 's3:DeleteBucket', arnOf(box), [BREAK_GLASS]),
      deny('GuardRailUploadsRemovedByCleanup', 's3:DeleteObject', objectsOf(box, 'photos/*'), [arnOf(cleanup), BREAK_GLASS]),
    ]);
    expect(guardRails(withBreakGlass, 'BucketsThumbnails')).toEqual([
      deny('GuardRailKeepVersions', 's3:DeleteObjectVersion', objectsOf(thumbs, '*'), [BREAK_GLASS]),
      deny('GuardRailKeepConfiguration', configuration, arnOf(thumbs), [cfnExecRole, BREAK_GLASS]),
      deny('GuardRailKeepBucket', 's3:DeleteBucket', arnOf(thumbs), [BREAK_GLASS]),
    ]);
  });

  test('the exempt deploy role is the synthesizer\'s: a bootstrap qualifier reaches it', () => {
    const qualified = synthTemplate({}, { '@aws-cdk/core:bootstrapQualifier': 'photos123' });
    const [, configurationRail] = guardRails(qualified, 'BucketsDropbox');
    expect(configurationRail.Condition).toEqual({
      ArnNotEquals: { 'aws:PrincipalArn': [{ 'Fn::Sub': 'arn:${AWS::Partition}:iam::${AWS::AccountId}:role/cdk-photos123-cfn-exec-role-${AWS::AccountId}-${AWS::Region}' }] },
    });
  });

  test('a synthesizer without a CloudFormation execution role is refused at synth time', () => {
    const app = new App({ context: { ...cdkContext, 'aws:cdk:bundling-stacks': [] } });
    expect(() => new PhotopipeStack(app, 'Test', { settings: parseSettings({}), synthesizer: new CliCredentialsStackSynthesizer() })).toThrow(
      /guard rails exempt the CloudFormation execution role of the DefaultStackSynthesizer/,
    );
  });

  /**
   * Whether the bucket policy of `bucketPrefix` denies `principal` (an ARN, as the template
   * writes it) `action` on the bucket itself or on `key`: the Denies are the only statements
   * that matter here (IAM policies grant; nothing can outweigh these).
   */
  function denied(synthesized: Template, bucketPrefix: string, principal: unknown, action: string, key?: string): boolean {
    const bucket = idOf(synthesized, 'AWS::S3::Bucket', bucketPrefix);
    const glob = (pattern: string, value: string) => new RegExp(`^${pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*')}$`).test(value);
    const onResource = (resource: unknown) => {
      if (key === undefined) return JSON.stringify(resource) === JSON.stringify(arnOf(bucket));
      const join = (resource as { 'Fn::Join'?: [string, [unknown, string]] })['Fn::Join'];
      return join !== undefined && JSON.stringify(join[1][0]) === JSON.stringify(arnOf(bucket)) && glob(join[1][1].slice(1), key);
    };
    return guardRails(synthesized, bucketPrefix).some((statement) => {
      const exempt = ((statement.Condition as { ArnNotEquals?: { 'aws:PrincipalArn': unknown[] } })?.ArnNotEquals?.['aws:PrincipalArn'] ?? []).map((p) => JSON.stringify(p));
      return (
        statement.Effect === 'Deny' &&
        [statement.Action].flat().includes(action) &&
        [statement.Resource].flat().some(onResource) &&
        !exempt.includes(JSON.stringify(principal))
      );
    });
  }

  const withBreakGlass = synthTemplate({ breakGlassRoleArn: BREAK_GLASS });
  const administrator = () => 'arn:aws:iam::123456789012:role/Administrator';
  const cleanup = (synthesized: Template) => arnOf(idOf(synthesized, 'AWS::IAM::Role', 'FunctionsCleanupRole'));
  const deploy = () => cfnExecRole;
  const breakGlass = () => BREAK_GLASS;
  const who = { administrator, cleanup, deploy, breakGlass };
  // who, bucket, action, key (none: the bucket), denied without break-glass, denied with one configured
  const table: [keyof typeof who, string, string, string | undefined, boolean, boolean][] = [
    ['administrator', 'BucketsDropbox', 's3:DeleteObjectVersion', 'photos/a.jpg', true, true],
    ['administrator', 'BucketsDropbox', 's3:DeleteObjectVersion', 'rejected/a.jpg~v', true, true],
    ['administrator', 'BucketsDropbox', 's3:DeleteObject', 'photos/a.jpg', true, true],
    // A delete marker under rejected/ hides nothing for good: the version stays, and only break-glass could remove it.
    ['administrator', 'BucketsDropbox', 's3:DeleteObject', 'rejected/a.jpg~v', false, false],
    ['administrator', 'BucketsDropbox', 's3:PutBucketVersioning', undefined, true, true],
    ['administrator', 'BucketsDropbox', 's3:PutLifecycleConfiguration', undefined, true, true],
    ['administrator', 'BucketsDropbox', 's3:PutBucketPolicy', undefined, true, true],
    ['administrator', 'BucketsDropbox', 's3:DeleteBucketPolicy', undefined, true, true],
    ['administrator', 'BucketsDropbox', 's3:DeleteBucket', undefined, true, true],
    ['administrator', 'BucketsThumbnails', 's3:DeleteBucket', undefined, true, true],
    ['administrator', 'BucketsThumbnails', 's3:DeleteObject', '256x256/photos/a.jpg', false, false],
    ['cleanup', 'BucketsDropbox', 's3:DeleteObject', 'photos/2024/a.jpg', false, false],
    ['cleanup', 'BucketsDropbox', 's3:DeleteObjectVersion', 'photos/2024/a.jpg', true, true],
    ['deploy', 'BucketsDropbox', 's3:PutBucketPolicy', undefined, false, false],
    ['deploy', 'BucketsDropbox', 's3:PutLifecycleConfiguration', undefined, false, false],
    ['deploy', 'BucketsDropbox', 's3:PutBucketVersioning', undefined, false, false],
    ['deploy', 'BucketsDropbox', 's3:DeleteBucketPolicy', undefined, false, false],
    ['deploy', 'BucketsDropbox', 's3:DeleteBucket', undefined, true, true],
    ['deploy', 'BucketsDropbox', 's3:DeleteObjectVersion', 'photos/a.jpg', true, true],
    ['deploy', 'BucketsDropbox', 's3:DeleteObject', 'photos/a.jpg', true, true],
    ['breakGlass', 'BucketsDropbox', 's3:DeleteObjectVersion', 'photos/a.jpg', true, false],
    ['breakGlass', 'BucketsDropbox', 's3:DeleteObject', 'photos/a.jpg', true, false],
    ['breakGlass', 'BucketsDropbox', 's3:DeleteBucket', undefined, true, false],
    ['breakGlass', 'BucketsDropbox', 's3:PutBucketPolicy', undefined, true, false],
    ['breakGlass', 'BucketsThumbnails', 's3:PutLifecycleConfiguration', undefined, true, false],
  ];
  test.each(table)('%s: %s %s %s → denied %s (with a break-glass role configured: %s)', (principal, bucket, action, key, deniedWithout, deniedWith) => {
    expect(denied(template, bucket, who[principal](template), action, key)).toBe(deniedWithout);
    expect(denied(withBreakGlass, bucket, who[principal](withBreakGlass), action, key)).toBe(deniedWith);
  });

  test('the Denies name no principal but everyone, and every exemption by aws:PrincipalArn', () => {
    for (const bucket of ['BucketsDropbox', 'BucketsThumbnails']) {
      for (const statement of guardRails(withBreakGlass, bucket)) {
        expect(statement).toMatchObject({ Effect: 'Deny', Principal: { AWS: '*' } });
        expect(Object.keys(statement.Condition as object)).toEqual(['ArnNotEquals']);
        expect(Object.keys((statement.Condition as { ArnNotEquals: object }).ArnNotEquals)).toEqual(['aws:PrincipalArn']);
      }
    }
    // The bucket policies allow nothing to anyone.
    for (const policy of Object.values(template.findResources('AWS::S3::BucketPolicy', { Properties: { Bucket: { Ref: Match.stringLikeRegexp('^Buckets(Dropbox|Thumbnails)') } } }))) {
      expect(policy.Properties.PolicyDocument.Statement.filter((s: { Effect: string }) => s.Effect !== 'Deny')).toEqual([]);
    }
  });
});

describe('bucketKms: the dropbox and the thumbnails under a customer-managed key', () => {
  const encrypted = synthTemplate({ bucketKms: true });
  const [keyId, key] = only(encrypted, 'AWS::KMS::Key', 'BucketsKey');
  const bucketEncryption = (synthesized: Template, prefix: string) => only(synthesized, 'AWS::S3::Bucket', prefix)[1].BucketEncryption.ServerSideEncryptionConfiguration;
  const kmsStatements = (synthesized: Template, fn: string) =>
    only(synthesized, 'AWS::IAM::Policy', `Functions${fn}Access`)[1].PolicyDocument.Statement.filter((st: { Action: string | string[] }) => actionsOf(st).some((a) => a.startsWith('kms:')));
  const throughS3 = { StringEquals: { 'kms:ViaService': { 'Fn::Join': ['', ['s3.', { Ref: 'AWS::Region' }, '.amazonaws.com']] } } };

  test('one rotated, retained key; both buckets SSE-KMS with bucket keys; the access logs stay SSE-S3', () => {
    expect(key.EnableKeyRotation).toBe(true);
    expect(encrypted.toJSON().Resources[keyId]).toMatchObject({ DeletionPolicy: 'Retain', UpdateReplacePolicy: 'Retain' });
    for (const bucket of ['BucketsDropbox', 'BucketsThumbnails']) {
      expect(bucketEncryption(encrypted, bucket)).toEqual([
        { BucketKeyEnabled: true, ServerSideEncryptionByDefault: { SSEAlgorithm: 'aws:kms', KMSMasterKeyID: arnOf(keyId) } },
      ]);
    }
    expect(bucketEncryption(encrypted, 'BucketsAccessLogs')).toEqual([{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }]);
  });

  test('each function may use the key exactly as it uses the buckets, only through S3', () => {
    expect(kmsStatements(encrypted, 'Validate')).toEqual([{ Effect: 'Allow', Action: 'kms:Decrypt', Resource: arnOf(keyId), Condition: throughS3 }]);
    expect(kmsStatements(encrypted, 'Archive')).toEqual([{ Effect: 'Allow', Action: 'kms:Decrypt', Resource: arnOf(keyId), Condition: throughS3 }]);
    for (const writer of ['Thumbnail', 'Cleanup']) {
      expect(kmsStatements(encrypted, writer)).toEqual([{ Effect: 'Allow', Action: ['kms:Decrypt', 'kms:GenerateDataKey'], Resource: arnOf(keyId), Condition: throughS3 }]);
    }
  });

  test('the uploader may make data keys, the viewer and the operator decrypt', () => {
    const keyActions = (person: string) => statements(encrypted, person).filter((st: { Resource: unknown }) => JSON.stringify(st.Resource) === JSON.stringify(arnOf(keyId))).flatMap(actionsOf);
    expect(keyActions('Uploader')).toEqual(['kms:Decrypt', 'kms:GenerateDataKey']);
    expect(keyActions('Viewer')).toEqual(['kms:Decrypt']);
    expect(keyActions('Operator')).toEqual(['kms:Decrypt']);
  });

  test('without it: no key, SSE-S3, and no function or person names KMS', () => {
    expect(template.findResources('AWS::KMS::Key')).toEqual({});
    expect(bucketEncryption(template, 'BucketsDropbox')).toEqual([{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }]);
    for (const fn of ['Validate', 'Thumbnail', 'Archive', 'Cleanup']) expect(kmsStatements(template, fn)).toEqual([]);
  });
});
