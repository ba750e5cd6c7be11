/** Operations: logs and tracing, concurrency, the failed runs' metrics, the alarms and their topic, the dashboard. */
import { Template } from 'aws-cdk-lib/assertions';
import { ERRORS, FUNCTIONS, FunctionName } from '../lib/contract';
import { NAMESPACE, OLDEST_WAITING_ORIGINAL, REJECTION_ERRORS, RUN_METRICS, failurePattern, rejectionPattern } from '../lib/constructs/operations';
import { arnOf, idOf, only, synthTemplate } from './synth';

const template = synthTemplate();
const stateMachine = idOf(template, 'AWS::StepFunctions::StateMachine', 'PipelineStateMachine');
const failedRuns = idOf(template, 'AWS::Logs::LogGroup', 'OperationsFailedRuns');
const topic = idOf(template, 'AWS::SNS::Topic', 'OperationsAlarms');
const names = Object.keys(FUNCTIONS.functions) as FunctionName[];
const capitalized = (name: string) => `${name[0].toUpperCase()}${name.slice(1)}`;
const functionId = (synthesized: Template, name: string) => idOf(synthesized, 'AWS::Lambda::Function', `Functions${capitalized(name)}`);

describe('logs and tracing', () => {
  test('every function is traced by X-Ray and logs JSON to its own log group, kept 90 days', () => {
    for (const name of names) {
      const [, fn] = only(template, 'AWS::Lambda::Function', `Functions${capitalized(name)}`);
      const logs = idOf(template, 'AWS::Logs::LogGroup', `Functions${capitalized(name)}Logs`);
      expect([name, fn.TracingConfig, fn.LoggingConfig]).toEqual([name, { Mode: 'Active' }, { LogFormat: 'JSON', LogGroup: { Ref: logs } }]);
    }
  });

  test('every log group of the stack has the retention, and is removed with the stack', () => {
    const groups = Object.entries(template.findResources('AWS::Logs::LogGroup'));
    // Four functions', the reconciler's, the state machine's, the failed runs', the Wasabi
    // bucket provider's and its framework's.
    expect(groups).toHaveLength(names.length + 5);
    for (const [id, group] of groups) {
      expect([id, group.Properties, group.DeletionPolicy]).toEqual([id, { RetentionInDays: 90 }, 'Delete']);
    }
  });

  test('logRetentionDays reaches every log group', () => {
    const groups = Object.values(synthTemplate({ logRetentionDays: 14 }).findResources('AWS::Logs::LogGroup'));
    expect(groups.map((group) => group.Properties.RetentionInDays)).toEqual(groups.map(() => 14));
  });

  test('X-Ray needs * (no resource-level permissions), in each role\'s default policy', () => {
    for (const name of names) {
      const [, policy] = only(template, 'AWS::IAM::Policy', `Functions${capitalized(name)}RoleDefaultPolicy`);
      expect(policy.PolicyDocument.Statement).toContainEqual({ Effect: 'Allow', Action: ['xray:PutTelemetryRecords', 'xray:PutTraceSegments'], Resource: '*' });
    }
  });
});

describe('reserved concurrency', () => {
  const reserved = (synthesized: Template) =>
    Object.fromEntries(names.map((name) => [name, synthesized.toJSON().Resources[functionId(synthesized, name)].Properties.ReservedConcurrentExecutions]));

  test('archive gets 10 by default, the others none', () => {
    expect(reserved(template)).toEqual({ validate: undefined, thumbnail: undefined, archive: 10, cleanup: undefined });
  });

  test('the setting names each function\'s, or none', () => {
    expect(reserved(synthTemplate({ reservedConcurrency: { thumbnail: 20, cleanup: 3 } }))).toEqual({ validate: undefined, thumbnail: 20, archive: undefined, cleanup: 3 });
    expect(reserved(synthTemplate({ reservedConcurrency: {} }))).toEqual({ validate: undefined, thumbnail: undefined, archive: undefined, cleanup: undefined });
  });
});

describe('memory', () => {
  const memory = (synthesized: Template) =>
    Object.fromEntries(names.map((name) => [name, synthesized.toJSON().Resources[functionId(synthesized, name)].Properties.MemorySize]));

  test('each function has the contract\'s memory unless the setting names it', () => {
    const contract = Object.fromEntries(names.map((name) => [name, FUNCTIONS.functions[name].memoryMb]));
    expect(memory(template)).toEqual(contract);
    expect(memory(synthTemplate({ memoryMb: { thumbnail: 2048 } }))).toEqual({ ...contract, thumbnail: 2048 });
  });
});

/**
 * Evaluates a CloudWatch Logs JSON filter pattern of the forms these use (`&&`, `||`,
 * parentheses, `=`/`!=` a string, `IS NULL`, `NOT EXISTS`) against an event, as CloudWatch
 * does: a comparison of a missing field is false.
 */
function matches(pattern: string, event: unknown): boolean {
  const body = pattern.trim().replace(/^\{/, '').replace(/\}$/, '');
  const tokens = body.match(/\(|\)|&&|\|\||IS NULL|NOT EXISTS|!=|=|"[^"]*"|\$[\w.]+/g) ?? [];
  expect(tokens.join('').replace(/\s/g, '')).toBe(body.replace(/\s/g, ''));
  let at = 0;
  const field = (selector: string) => {
    let value: unknown = event;
    for (const part of selector.slice(2).split('.')) {
      if (value === null || typeof value !== 'object' || !(part in value)) return { exists: false, value: undefined };
      value = (value as Record<string, unknown>)[part];
    }
    return { exists: true, value };
  };
  const primary = (): boolean => {
    const token = tokens[at++];
    if (token === '(') {
      const value = or();
      expect(tokens[at++]).toBe(')');
      return value;
    }
    expect(token).toMatch(/^\$/);
    const { exists, value } = field(token);
    const op = tokens[at++];
    if (op === 'IS NULL') return exists && value === null;
    if (op === 'NOT EXISTS') return !exists;
    const literal = JSON.parse(tokens[at++]);
    if (!exists || typeof value !== 'string') return op === '!=' && exists && value !== null ? true : false;
    return op === '=' ? value === literal : value !== literal;
  };
  const and = (): boolean => {
    let value = primary();
    while (tokens[at] === '&&') {
      at++;
      value = primary() && value;
    }
    return value;
  };
  const or = (): boolean => {
    let value = and();
    while (tokens[at] === '||') {
      at++;
      value = and() || value;
    }
    return value;
  };
  const result = or();
  expect(at).toBe(tokens.length);
  return result;
}

describe('failed runs, told apart from rejections', () => {
  const event = (error: unknown) => ({
    'detail-type': 'Step Functions Execution Status Change',
    source: 'aws.states',
    detail: { status: 'FAILED', stateMachineArn: 'arn:aws:states:eu-west-1:123456789012:stateMachine:m', ...(error === undefined ? {} : { error }) },
  });

  test('the rejections are the contract\'s quarantine errors', () => {
    expect(REJECTION_ERRORS).toEqual(ERRORS.errors.filter((e) => e.handling === 'quarantine').map((e) => e.name));
    expect(REJECTION_ERRORS.length).toBeGreaterThan(0);
  });

  test.each([
    ...ERRORS.errors.map((e): [string, unknown, boolean] => [e.name, e.name, e.handling !== 'quarantine']),
    ...[...ERRORS.lambdaCrashErrors, ...ERRORS.lambdaServiceErrors, 'States.Runtime', 'States.TaskFailed'].map((name): [string, unknown, boolean] => [name, name, true]),
    ['a null error', null, true],
    ['no error at all', undefined, true],
  ])('%s: counted as a failure %s', (_, error, failure) => {
    expect(matches(failurePattern().logPatternString, event(error))).toBe(failure);
    expect(matches(rejectionPattern().logPatternString, event(error))).toBe(typeof error === 'string' && REJECTION_ERRORS.includes(error));
  });

  test('a run that did not fail matches neither', () => {
    const succeeded = { detail: { status: 'SUCCEEDED', error: null } };
    expect(matches(failurePattern().logPatternString, succeeded)).toBe(false);
    expect(matches(rejectionPattern().logPatternString, succeeded)).toBe(false);
  });

  test('an EventBridge rule sends the state machine\'s FAILED status changes to the log group, with no custom resource', () => {
    const [, rule] = only(template, 'AWS::Events::Rule', 'OperationsRunFailed');
    expect(rule.EventPattern).toEqual({
      source: ['aws.states'],
      'detail-type': ['Step Functions Execution Status Change'],
      detail: { status: ['FAILED'], stateMachineArn: [{ Ref: stateMachine }] },
    });
    expect(rule.Targets).toEqual([
      {
        Id: 'Target0',
        Arn: { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':logs:', { Ref: 'AWS::Region' }, ':', { Ref: 'AWS::AccountId' }, ':log-group:', { Ref: failedRuns }]] },
      },
    ]);
    const [, policy] = only(template, 'AWS::Logs::ResourcePolicy', 'OperationsFailedRuns');
    expect(JSON.parse(JSON.stringify(policy.PolicyDocument['Fn::Join'][1].map((part: unknown) => (typeof part === 'string' ? part : '<arn>')).join('')))).toBe(
      '{"Statement":[{"Action":["logs:CreateLogStream","logs:PutLogEvents"],"Effect":"Allow","Principal":{"Service":"events.amazonaws.com"},"Resource":"<arn>"}],"Version":"2012-10-17"}',
    );
    expect(policy.PolicyDocument['Fn::Join'][1][1]).toEqual(arnOf(failedRuns));
    // The only functions are the pipeline's four, the reconciler and the Wasabi bucket's provider
    // with its framework: no custom resource but the Wasabi bucket, no log-retention Lambda.
    expect(Object.keys(template.findResources('AWS::Lambda::Function'))).toHaveLength(names.length + 3);
    expect(Object.values(template.toJSON().Resources).filter((r: any) => /^Custom::|AWS::CloudFormation::CustomResource/.test(r.Type)).map((r: any) => r.Type)).toEqual(['Custom::WasabiBucket']);
  });

  test('four metric filters on that group: failures and rejections, each in total and by error name, per state machine', () => {
    const filters = Object.values(template.findResources('AWS::Logs::MetricFilter')).map((f) => f.Properties);
    const machine = { Key: 'StateMachineArn', Value: '$.detail.stateMachineArn' };
    const byError = { Key: 'ErrorName', Value: '$.detail.error' };
    const expected = [
      [RUN_METRICS.failed, failurePattern(), [machine]],
      [RUN_METRICS.failedByError, failurePattern(), [machine, byError]],
      [RUN_METRICS.rejected, rejectionPattern(), [machine]],
      [RUN_METRICS.rejectedByError, rejectionPattern(), [machine, byError]],
    ] as const;
    expect(filters).toEqual(
      expected.map(([MetricName, pattern, Dimensions]) => ({
        LogGroupName: { Ref: failedRuns },
        FilterPattern: pattern.logPatternString,
        MetricTransformations: [{ MetricNamespace: NAMESPACE, MetricName, MetricValue: '1', Dimensions }],
      })),
    );
  });
});

describe('alarms', () => {
  const alarms = Object.entries(template.findResources('AWS::CloudWatch::Alarm'));
  const alarm = (prefix: string, synthesized = template) => only(synthesized, 'AWS::CloudWatch::Alarm', `Operations${prefix}`)[1];

  test('thirteen, each telling the topic when it goes off and when it clears', () => {
    // Five, and each function's errors and throttles (the reconciler's too).
    expect(alarms).toHaveLength(5 + 2 * (names.length + 1));
    for (const [id, { Properties }] of alarms) {
      expect([id, Properties.AlarmActions, Properties.OKActions]).toEqual([id, [{ Ref: topic }], [{ Ref: topic }]]);
      expect([id, Properties.TreatMissingData]).toEqual([id, 'notBreaching']);
      expect([id, typeof Properties.AlarmDescription]).toEqual([id, 'string']);
    }
  });

  const once = { Threshold: 1, EvaluationPeriods: 1, ComparisonOperator: 'GreaterThanOrEqualToThreshold', Period: 300 };
  test('a run failed with anything but a rejection', () => {
    expect(alarm('RunsFailed')).toMatchObject({
      ...once,
      Namespace: NAMESPACE,
      MetricName: RUN_METRICS.failed,
      Dimensions: [{ Name: 'StateMachineArn', Value: { Ref: stateMachine } }],
      Statistic: 'Sum',
    });
  });

  test.each([
    ['RunsTimedOut', 'ExecutionsTimedOut'],
    ['RunsAborted', 'ExecutionsAborted'],
  ])('%s: %s of the state machine', (id, metric) => {
    expect(alarm(id)).toMatchObject({ ...once, Namespace: 'AWS/States', MetricName: metric, Dimensions: [{ Name: 'StateMachineArn', Value: { Ref: stateMachine } }], Statistic: 'Sum' });
  });

  test('a message visible in the dead-letter queue', () => {
    expect(alarm('DeadLetters')).toMatchObject({
      ...once,
      Namespace: 'AWS/SQS',
      MetricName: 'ApproximateNumberOfMessagesVisible',
      Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [idOf(template, 'AWS::SQS::Queue', 'TriggerDeadLetters'), 'QueueName'] } }],
      Statistic: 'Maximum',
    });
  });

  test.each(names.flatMap((name) => [[name, 'Errors'], [name, 'Throttles']]))('%s: %s for three five-minute periods in a row', (name, metric) => {
    expect(alarm(`${capitalized(name)}${metric}`)).toMatchObject({
      Threshold: 1,
      EvaluationPeriods: 3,
      DatapointsToAlarm: 3,
      Period: 300,
      Namespace: 'AWS/Lambda',
      MetricName: metric,
      Dimensions: [{ Name: 'FunctionName', Value: { Ref: functionId(template, name) } }],
      Statistic: 'Sum',
    });
  });

  test('the oldest original waiting under photos/: the reconciler\'s metric, over maxWaitingMinutes, missing data fine', () => {
    expect(OLDEST_WAITING_ORIGINAL).toEqual({ namespace: 'photopipe', metricName: 'OldestWaitingOriginalSeconds' });
    expect(alarm('OriginalWaiting')).toEqual(
      expect.objectContaining({
        Namespace: 'photopipe',
        MetricName: 'OldestWaitingOriginalSeconds',
        Statistic: 'Maximum',
        Period: 300,
        EvaluationPeriods: 1,
        Threshold: 3600,
        ComparisonOperator: 'GreaterThanThreshold',
        TreatMissingData: 'notBreaching',
      }),
    );
    expect(alarm('OriginalWaiting').Dimensions).toBeUndefined();
    expect(alarm('OriginalWaiting', synthTemplate({ maxWaitingMinutes: 15 })).Threshold).toBe(900);
  });
});

describe('the alarm topic', () => {
  test('TLS only, CloudWatch alarms of this account may publish, nobody subscribed by default', () => {
    const [, policy] = only(template, 'AWS::SNS::TopicPolicy', 'OperationsAlarms');
    expect(policy.PolicyDocument.Statement).toEqual([
      { Sid: 'AllowPublishThroughSSLOnly', Effect: 'Deny', Principal: '*', Action: 'sns:Publish', Resource: { Ref: topic }, Condition: { Bool: { 'aws:SecureTransport': 'false' } } },
      {
        Sid: 'CloudWatchAlarmsMayPublish',
        Effect: 'Allow',
        Principal: { Service: 'cloudwatch.amazonaws.com' },
        Action: 'sns:Publish',
        Resource: { Ref: topic },
        Condition: { ArnLike: { 'aws:SourceArn': { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':cloudwatch:', { Ref: 'AWS::Region' }, ':', { Ref: 'AWS::AccountId' }, ':alarm:*']] } } },
      },
    ]);
    expect(template.findResources('AWS::SNS::Subscription')).toEqual({});
    expect(template.toJSON().Outputs.AlarmTopicArn.Value).toEqual({ Ref: topic });
  });

  test('alarmEmail subscribes that address', () => {
    const mailed = synthTemplate({ alarmEmail: 'ops@example.com' });
    const subscriptions = Object.values(mailed.findResources('AWS::SNS::Subscription')).map((s) => s.Properties);
    expect(subscriptions).toEqual([{ Protocol: 'email', Endpoint: 'ops@example.com', TopicArn: { Ref: idOf(mailed, 'AWS::SNS::Topic', 'OperationsAlarms') } }]);
  });
});

describe('the dashboard', () => {
  const [dashboardId, dashboard] = only(template, 'AWS::CloudWatch::Dashboard', 'OperationsDashboard');
  /** The body with every reference written as <logical id>. */
  const reference = (part: { Ref?: string; 'Fn::GetAtt'?: [string, string] }) => `<${part.Ref ?? part['Fn::GetAtt']![0]}>`;
  const body = JSON.parse(dashboard.DashboardBody['Fn::Join'][1].map((part: unknown) => (typeof part === 'string' ? part : reference(part as object))).join(''));
  const widget = (title: string) => body.widgets.find((w: { properties: { title?: string } }) => w.properties.title === title)?.properties;

  test('uploads, successes, rejections and failures', () => {
    const machine = `<${stateMachine}>`;
    expect(widget('Uploads and outcomes').metrics).toEqual([
      ['AWS/States', 'ExecutionsStarted', 'StateMachineArn', machine, { label: 'uploads (runs started)', stat: 'Sum' }],
      ['AWS/States', 'ExecutionsSucceeded', 'StateMachineArn', machine, { label: 'succeeded', stat: 'Sum' }],
      [NAMESPACE, RUN_METRICS.rejected, 'StateMachineArn', machine, { label: 'rejected (quarantined)', stat: 'Sum' }],
      [NAMESPACE, RUN_METRICS.failed, 'StateMachineArn', machine, { label: 'failed (not rejections)', stat: 'Sum' }],
    ]);
  });

  test('failures by error name (whatever names appear), rejections by the contract\'s names', () => {
    expect(widget('Failures by error name').metrics).toEqual([
      [{ expression: `SEARCH('{photopipe,ErrorName,StateMachineArn} MetricName="FailedRunsByError" StateMachineArn="<${stateMachine}>"', 'Sum', 300)` }],
    ]);
    expect(widget('Rejections by error name').metrics).toEqual(
      REJECTION_ERRORS.map((name) => [NAMESPACE, RUN_METRICS.rejectedByError, 'ErrorName', name, 'StateMachineArn', `<${stateMachine}>`, { label: name, stat: 'Sum' }]),
    );
  });

  test('each step\'s run time and duration, the oldest waiting original, errors, throttles, the dead-letter queue, every alarm', () => {
    const runTime = widget('Step run time (Step Functions LambdaFunctionRunTime, average)').metrics;
    expect(runTime.map((m: unknown[]) => [m[1], m[4]])).toEqual(names.map((name) => ['LambdaFunctionRunTime', { label: name }]));
    expect(widget('Function duration (p99)').metrics.map((m: unknown[]) => [m[1], m[4]])).toEqual([...names, 'reconcile'].map((name) => ['Duration', { label: name, stat: 'p99' }]));
    expect(widget('Oldest original waiting under photos/')).toMatchObject({
      metrics: [['photopipe', 'OldestWaitingOriginalSeconds', { label: 'oldest waiting original (s)', stat: 'Maximum' }]],
      annotations: { horizontal: [{ value: 3600, label: '60 minutes', yAxis: 'left' }] },
    });
    expect(widget('Function errors and throttles').metrics).toHaveLength(2 * (names.length + 1));
    expect(widget('Dead-letter queue').metrics[0][1]).toBe('ApproximateNumberOfMessagesVisible');
    expect(widget('Alarms').alarms).toHaveLength(Object.keys(template.findResources('AWS::CloudWatch::Alarm')).length);
  });

  test('says why Wasabi\'s bytes written are not on it', () => {
    const text = body.widgets.find((w: { type: string }) => w.type === 'text');
    expect(text.properties.markdown).toMatch(/^### Bytes written to Wasabi\n\nNo metric: /);
  });

  test('is named in the outputs', () => {
    expect(template.toJSON().Outputs.DashboardName.Value).toEqual({ Ref: dashboardId });
  });
});

test('the alarms and metrics tell this stack\'s state machine from another\'s in the account', () => {
  const statesMetrics = Object.values(template.findResources('AWS::CloudWatch::Alarm')).filter(
    (a) => a.Properties.Namespace === 'AWS/States' || (a.Properties.Namespace === NAMESPACE && a.Properties.MetricName !== OLDEST_WAITING_ORIGINAL.metricName),
  );
  expect(statesMetrics).toHaveLength(3);
  for (const a of statesMetrics) expect(a.Properties.Dimensions).toContainEqual({ Name: 'StateMachineArn', Value: { Ref: stateMachine } });
});
