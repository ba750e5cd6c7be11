/** The reconciler: its schedule, its environment, its role's exact statements, and its settings. */
import { RECONCILER } from '../lib/contract';
import { RECONCILER_CHECKOV_SKIPS, RECONCILER_FUNCTION } from '../lib/constructs/reconciler';
import { parseSettings } from '../lib/settings';
import { arnOf, idOf, objectsOf, only, synthTemplate } from './synth';

const template = synthTemplate();
const [functionId, fn] = only(template, 'AWS::Lambda::Function', 'ReconcilerReconcile');
const dropbox = idOf(template, 'AWS::S3::Bucket', 'BucketsDropbox');
const stateMachine = idOf(template, 'AWS::StepFunctions::StateMachine', 'PipelineStateMachine');

describe('the function', () => {
  test('is the reconcile binary, arm64, sized as RECONCILER_FUNCTION, traced, logging JSON to its own group', () => {
    const logs = idOf(template, 'AWS::Logs::LogGroup', 'ReconcilerReconcileLogs');
    expect([fn.Runtime, fn.Architectures, fn.MemorySize, fn.Timeout, fn.TracingConfig, fn.LoggingConfig]).toEqual([
      'provided.al2023',
      ['arm64'],
      RECONCILER_FUNCTION.memoryMb,
      RECONCILER_FUNCTION.timeoutSeconds,
      { Mode: 'Active' },
      { LogFormat: 'JSON', LogGroup: { Ref: logs } },
    ]);
  });

  test('is told the dropbox, the state machine and the age, under the contract\'s names', () => {
    expect(fn.Environment.Variables).toEqual({
      RUST_LOG: 'info',
      [RECONCILER.environment.dropboxBucket]: { Ref: dropbox },
      [RECONCILER.environment.stateMachineArn]: { Ref: stateMachine },
      [RECONCILER.environment.afterMinutes]: '30',
    });
    const [, other] = only(synthTemplate({ reconcileAfterMinutes: 10, reconcileEveryMinutes: 5 }), 'AWS::Lambda::Function', 'ReconcilerReconcile');
    expect(other.Environment.Variables[RECONCILER.environment.afterMinutes]).toBe('10');
  });

  test('skips only the checkov checks that do not fit a scheduled function, each with its reason', () => {
    const metadata = template.toJSON().Resources[functionId].Metadata;
    expect(metadata.checkov.skip).toEqual(RECONCILER_CHECKOV_SKIPS);
    expect(RECONCILER_CHECKOV_SKIPS.map((s) => s.id).sort()).toEqual(['CKV_AWS_115', 'CKV_AWS_116', 'CKV_AWS_117', 'CKV_AWS_173']);
  });
});

describe('the schedule', () => {
  test('runs it every reconcileEveryMinutes (15 by default), once per run', () => {
    const [, rule] = only(template, 'AWS::Events::Rule', 'ReconcilerSchedule');
    expect(rule.ScheduleExpression).toBe('rate(15 minutes)');
    expect(rule.State).toBe('ENABLED');
    expect(rule.Targets).toEqual([{ Arn: arnOf(functionId), Id: 'Target0', RetryPolicy: { MaximumRetryAttempts: 0 } }]);
    const [, every5] = only(synthTemplate({ reconcileEveryMinutes: 5 }), 'AWS::Events::Rule', 'ReconcilerSchedule');
    expect(every5.ScheduleExpression).toBe('rate(5 minutes)');
  });

  test('may invoke this function alone', () => {
    const [, permission] = only(template, 'AWS::Lambda::Permission', 'ReconcilerSchedule');
    expect(permission).toEqual({
      Action: 'lambda:InvokeFunction',
      FunctionName: arnOf(functionId),
      Principal: 'events.amazonaws.com',
      SourceArn: arnOf(idOf(template, 'AWS::Events::Rule', 'ReconcilerSchedule')),
    });
  });
});

describe('its role', () => {
  test('allows exactly: list photos/, read heads there, list, describe and start executions of the state machine, put photopipe metrics, write its logs', () => {
    const [, policy] = only(template, 'AWS::IAM::Policy', 'ReconcilerReconcileAccess');
    const executions = {
      'Fn::Join': [
        '',
        ['arn:', { Ref: 'AWS::Partition' }, ':states:', { Ref: 'AWS::Region' }, ':', { Ref: 'AWS::AccountId' }, ':execution:', { 'Fn::GetAtt': [stateMachine, 'Name'] }, ':*'],
      ],
    };
    expect(policy.PolicyDocument.Statement).toEqual([
      { Effect: 'Allow', Action: 's3:ListBucket', Resource: arnOf(dropbox), Condition: { StringLike: { 's3:prefix': ['photos/*'] } } },
      { Effect: 'Allow', Action: 's3:GetObject', Resource: objectsOf(dropbox, 'photos/*') },
      { Effect: 'Allow', Action: ['states:ListExecutions', 'states:StartExecution'], Resource: { Ref: stateMachine } },
      { Effect: 'Allow', Action: 'states:DescribeExecution', Resource: executions },
      { Effect: 'Allow', Action: 'cloudwatch:PutMetricData', Resource: '*', Condition: { StringEquals: { 'cloudwatch:namespace': 'photopipe' } } },
      { Effect: 'Allow', Action: ['logs:CreateLogStream', 'logs:PutLogEvents'], Resource: arnOf(idOf(template, 'AWS::Logs::LogGroup', 'ReconcilerReconcileLogs')) },
    ]);
    const [roleId] = only(template, 'AWS::IAM::Role', 'ReconcilerReconcileRole');
    expect(policy.Roles).toEqual([{ Ref: roleId }]);
  });

  test('has only X-Ray besides (its default policy)', () => {
    const [, defaults] = only(template, 'AWS::IAM::Policy', 'ReconcilerReconcileRoleDefaultPolicy');
    expect(defaults.PolicyDocument.Statement).toEqual([{ Effect: 'Allow', Action: ['xray:PutTelemetryRecords', 'xray:PutTraceSegments'], Resource: '*' }]);
  });
});

describe('operations', () => {
  test('its errors and throttles have alarms, and the operator reads its logs', () => {
    for (const metric of ['Errors', 'Throttles']) {
      const [, alarm] = only(template, 'AWS::CloudWatch::Alarm', `OperationsReconcile${metric}`);
      expect([alarm.MetricName, alarm.Dimensions]).toEqual([metric, [{ Name: 'FunctionName', Value: { Ref: functionId } }]]);
    }
    const [, operator] = only(template, 'AWS::IAM::ManagedPolicy', 'PeopleOperator');
    const logs = operator.PolicyDocument.Statement.find((s: { Action: string[] }) => s.Action.includes('logs:GetLogEvents'));
    expect(logs.Resource).toContainEqual(arnOf(idOf(template, 'AWS::Logs::LogGroup', 'ReconcilerReconcileLogs')));
  });
});

describe('settings', () => {
  test('default to every 15 minutes, after 30', () => {
    const { reconcileEveryMinutes, reconcileAfterMinutes, maxWaitingMinutes } = parseSettings({});
    expect([reconcileEveryMinutes, reconcileAfterMinutes, maxWaitingMinutes]).toEqual([15, 30, 60]);
  });

  test('follow maxWaitingMinutes when only it is given: half of it to wait, a quarter between runs', () => {
    expect(parseSettings({ maxWaitingMinutes: 5 })).toMatchObject({ reconcileAfterMinutes: 2, reconcileEveryMinutes: 1 });
    expect(parseSettings({ maxWaitingMinutes: 10080 })).toMatchObject({ reconcileAfterMinutes: 5040, reconcileEveryMinutes: 1440 });
    expect(parseSettings({ maxWaitingMinutes: 120, reconcileEveryMinutes: 5 })).toMatchObject({ reconcileAfterMinutes: 60, reconcileEveryMinutes: 5 });
  });

  test('must start a lost original before its alarm: after + every < maxWaitingMinutes', () => {
    expect(() => parseSettings({ reconcileAfterMinutes: 45 })).toThrow(/reconcileAfterMinutes \(45\) \+ reconcileEveryMinutes \(15\) must be less than maxWaitingMinutes \(60\)/);
    expect(() => parseSettings({ reconcileAfterMinutes: 45, maxWaitingMinutes: 61 })).not.toThrow();
  });

  test.each([
    ['reconcileEveryMinutes', 0],
    ['reconcileEveryMinutes', 1.5],
    ['reconcileAfterMinutes', 0],
    ['reconcileAfterMinutes', '30'],
  ])('%s %p is refused', (name, value) => {
    expect(() => parseSettings({ [name]: value })).toThrow(new RegExp(`${name} must be a whole number`));
  });
});
