/**
 * What tells a person something is wrong, and what they look at then: an SNS topic for the
 * alarms (mailed to `alarmEmail` when set), the alarms, and a dashboard.
 *
 * A failed run is not always a fault: a rejected upload is quarantined and its run then fails
 * with the rejection's error name, as designed. To tell the two apart without a Lambda, an
 * EventBridge rule sends every "Step Functions Execution Status Change" to FAILED of this
 * state machine to a CloudWatch Logs group, where metric filters on `$.detail.error` count
 * the failures whose handling in `contract/errors.json` is not "quarantine" (the alarm) apart
 * from the rejections (the dashboard). The names come from the contract, never from here.
 */
import { ArnFormat, Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as events from 'aws-cdk-lib/aws-events';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { LOG_GROUP_WITHOUT_KMS, skipCheckov } from '../checkov';
import { ERRORS, PREFIXES, RECONCILER } from '../contract';
import { PipelineFunction } from './pipeline-function';

/** The namespace of photopipe's own metrics. */
export const NAMESPACE = 'photopipe';

/**
 * The age in seconds of the oldest original still waiting under `photos/` (neither archived
 * nor quarantined). The reconciler function publishes it every run (namespace `photopipe`, no
 * dimensions; `reconciler.metric` of `contract/settings.json`); until it runs there are no
 * data points, and the alarm treats that as fine.
 */
export const OLDEST_WAITING_ORIGINAL = { namespace: RECONCILER.metric.namespace, metricName: RECONCILER.metric.name } as const;

/** The metric filters' metrics, each with the state machine's ARN as the dimension `StateMachineArn`. */
export const RUN_METRICS = {
  /** Failed runs whose error is not a rejection (or has no name): the alarm's. */
  failed: 'FailedRuns',
  /** The same, with the dimension `ErrorName` too: the dashboard's. */
  failedByError: 'FailedRunsByError',
  /** Runs that failed because their upload was rejected (quarantined), as designed. */
  rejected: 'RejectedRuns',
  /** The same, with the dimension `ErrorName` too. */
  rejectedByError: 'RejectedRunsByError',
} as const;

/** The error names the state machine quarantines, from `contract/errors.json`. */
export const REJECTION_ERRORS: readonly string[] = ERRORS.errors.filter((e) => e.handling === 'quarantine').map((e) => e.name);

const ERROR_FIELD = '$.detail.error';
const FIVE_MINUTES = Duration.minutes(5);

/** A failed run's event whose error is not a rejection: any other name, null or none. */
export function failurePattern(): logs.JsonPattern {
  return logs.FilterPattern.all(
    logs.FilterPattern.stringValue('$.detail.status', '=', 'FAILED'),
    logs.FilterPattern.any(
      logs.FilterPattern.notExists(ERROR_FIELD),
      logs.FilterPattern.isNull(ERROR_FIELD),
      logs.FilterPattern.all(...REJECTION_ERRORS.map((name) => logs.FilterPattern.stringValue(ERROR_FIELD, '!=', name))),
    ),
  );
}

/** A failed run's event whose error is a rejection. */
export function rejectionPattern(): logs.JsonPattern {
  return logs.FilterPattern.all(
    logs.FilterPattern.stringValue('$.detail.status', '=', 'FAILED'),
    logs.FilterPattern.any(...REJECTION_ERRORS.map((name) => logs.FilterPattern.stringValue(ERROR_FIELD, '=', name))),
  );
}

/**
 * EventBridge → a CloudWatch Logs group, without the custom resource (a Node.js Lambda) that
 * `aws-events-targets.CloudWatchLogGroup` makes to write the log group's resource policy: the
 * policy is a plain `AWS::Logs::ResourcePolicy` (`LogGroup.addToResourcePolicy`).
 */
class LogGroupTarget implements events.IRuleTarget {
  constructor(private readonly logGroup: logs.LogGroup) {}

  bind(): events.RuleTargetConfig {
    const stack = Stack.of(this.logGroup);
    return {
      // The target is the group's ARN without the `:*` its Arn attribute ends in.
      arn: stack.formatArn({ service: 'logs', resource: 'log-group', resourceName: this.logGroup.logGroupName, arnFormat: ArnFormat.COLON_RESOURCE_NAME }),
    };
  }
}

export interface OperationsProps {
  readonly stateMachine: sfn.StateMachine;
  /** The state machine's steps: alarmed, and graphed with their Step Functions run time. */
  readonly functions: readonly PipelineFunction[];
  /** Functions that are no step of it (the reconciler): alarmed and graphed the same, without a run time. */
  readonly otherFunctions?: readonly PipelineFunction[];
  readonly deadLetters: sqs.IQueue;
  /** Days the failed runs' log group keeps events. */
  readonly logRetentionDays: number;
  /** Mailed every alarm and its recovery; absent, the topic has no subscriber. */
  readonly alarmEmail?: string;
  /** Minutes an original may wait under `photos/` before its alarm. */
  readonly maxWaitingMinutes: number;
}

export class Operations extends Construct {
  readonly topic: sns.Topic;
  /** Every Execution Status Change to FAILED of the state machine, as EventBridge sends it. */
  readonly failedRuns: logs.LogGroup;
  readonly alarms: cloudwatch.Alarm[] = [];
  readonly dashboard: cloudwatch.Dashboard;

  constructor(scope: Construct, id: string, props: OperationsProps) {
    super(scope, id);
    const { stateMachine, functions, deadLetters } = props;
    const everyFunction = [...functions, ...(props.otherFunctions ?? [])];
    const stack = Stack.of(this);

    // Not encrypted at rest: it carries only alarm state changes (names, thresholds, metric
    // values), never photo data, and CloudWatch cannot publish to a topic under the
    // AWS-managed aws/sns key; a customer-managed key for this alone is not worth its cost.
    this.topic = new sns.Topic(this, 'Alarms', { displayName: 'photopipe alarms', enforceSSL: true });
    // enforceSSL gives the topic a policy of its own, which replaces the default one: allow
    // CloudWatch to publish this account's alarms explicitly.
    this.topic.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'CloudWatchAlarmsMayPublish',
        actions: ['sns:Publish'],
        principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
        resources: [this.topic.topicArn],
        conditions: { ArnLike: { 'aws:SourceArn': stack.formatArn({ service: 'cloudwatch', resource: 'alarm', resourceName: '*', arnFormat: ArnFormat.COLON_RESOURCE_NAME }) } },
      }),
    );
    skipCheckov(this.topic, {
      id: 'CKV_AWS_26',
      comment: 'Carries only alarm state changes, never photo data, and CloudWatch cannot publish to a topic under the AWS-managed aws/sns key (see above).',
    });
    if (props.alarmEmail !== undefined) {
      this.topic.addSubscription(new subscriptions.EmailSubscription(props.alarmEmail));
    }

    this.failedRuns = new logs.LogGroup(this, 'FailedRuns', {
      retention: props.logRetentionDays as logs.RetentionDays,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    skipCheckov(this.failedRuns, LOG_GROUP_WITHOUT_KMS);
    const rule = new events.Rule(this, 'RunFailed', {
      description: 'Every failed run of the photopipe state machine, to the log group its metric filters read',
      eventPattern: {
        source: ['aws.states'],
        detailType: ['Step Functions Execution Status Change'],
        detail: { status: ['FAILED'], stateMachineArn: [stateMachine.stateMachineArn] },
      },
    });
    rule.addTarget(new LogGroupTarget(this.failedRuns));
    this.failedRuns.addToResourcePolicy(
      new iam.PolicyStatement({
        actions: ['logs:CreateLogStream', 'logs:PutLogEvents'],
        principals: [new iam.ServicePrincipal('events.amazonaws.com')],
        resources: [this.failedRuns.logGroupArn],
      }),
    );

    const byMachine = { StateMachineArn: '$.detail.stateMachineArn' };
    const byMachineAndError = { ...byMachine, ErrorName: ERROR_FIELD };
    const filter = (name: string, metricName: string, filterPattern: logs.IFilterPattern, dimensions: Record<string, string>) =>
      new logs.MetricFilter(this, name, { logGroup: this.failedRuns, metricNamespace: NAMESPACE, metricName, filterPattern, metricValue: '1', dimensions });
    filter('FailedFilter', RUN_METRICS.failed, failurePattern(), byMachine);
    filter('FailedByErrorFilter', RUN_METRICS.failedByError, failurePattern(), byMachineAndError);
    filter('RejectedFilter', RUN_METRICS.rejected, rejectionPattern(), byMachine);
    filter('RejectedByErrorFilter', RUN_METRICS.rejectedByError, rejectionPattern(), byMachineAndError);
    // Alarms take the metrics without a label (a labelled one becomes a metric-math alarm);
    // the dashboard labels them.
    const runMetric = (metricName: string, extra: Record<string, string> = {}) =>
      new cloudwatch.Metric({
        namespace: NAMESPACE,
        metricName,
        dimensionsMap: { StateMachineArn: stateMachine.stateMachineArn, ...extra },
        statistic: cloudwatch.Stats.SUM,
        period: FIVE_MINUTES,
      });
    const failed = runMetric(RUN_METRICS.failed);
    const rejected = runMetric(RUN_METRICS.rejected);

    const alarm = (name: string, metric: cloudwatch.Metric, description: string, options: Partial<cloudwatch.CreateAlarmOptions> = {}) => {
      const created = metric.createAlarm(this, name, {
        alarmDescription: description,
        threshold: 1,
        evaluationPeriods: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        ...options,
      });
      created.addAlarmAction(new actions.SnsAction(this.topic));
      created.addOkAction(new actions.SnsAction(this.topic));
      this.alarms.push(created);
      return created;
    };
    alarm(
      'RunsFailed',
      failed,
      `A photopipe run failed with an error other than a rejection (${REJECTION_ERRORS.join(', ')}): see the failed executions, fix the cause, redrive them.`,
    );
    const sfnMetric = { period: FIVE_MINUTES, statistic: cloudwatch.Stats.SUM };
    alarm('RunsTimedOut', stateMachine.metricTimedOut(sfnMetric), 'A photopipe run timed out (ExecutionsTimedOut).');
    alarm('RunsAborted', stateMachine.metricAborted(sfnMetric), 'A photopipe run was aborted (ExecutionsAborted): someone stopped it.');
    alarm(
      'DeadLetters',
      deadLetters.metricApproximateNumberOfMessagesVisible({ period: FIVE_MINUTES, statistic: cloudwatch.Stats.MAXIMUM }),
      'An upload event could not start a run and waits in the dead-letter queue: start its run with the message as the input, then delete the message.',
    );
    for (const fn of everyFunction) {
      // Three five-minute periods in a row: a rejection or a retried transient error is one
      // error now and then (validate's and thumbnail's errors include every rejection), an
      // outage or a broken setting is errors every minute.
      const sustained = { evaluationPeriods: 3, datapointsToAlarm: 3 };
      alarm(`${fn.node.id}Errors`, fn.metricErrors({ period: FIVE_MINUTES }), `The ${fn.binaryName} function has erred for 15 minutes in a row.`, sustained);
      alarm(
        `${fn.node.id}Throttles`,
        fn.metricThrottles({ period: FIVE_MINUTES }),
        `The ${fn.binaryName} function has been throttled for 15 minutes in a row: its reserved concurrency or the account's is exhausted (the Tasks retry for about 20 minutes).`,
        sustained,
      );
    }
    const waiting = new cloudwatch.Metric({ ...OLDEST_WAITING_ORIGINAL, statistic: cloudwatch.Stats.MAXIMUM, period: FIVE_MINUTES });
    // Published by the reconciler; missing data (before it exists, or if it stops) is not an alarm.
    alarm('OriginalWaiting', waiting, `An original has waited under ${PREFIXES.photos} for more than ${props.maxWaitingMinutes} minutes without being archived or quarantined.`, {
      threshold: props.maxWaitingMinutes * 60,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
    });

    const sfnCount = (metricName: string, label: string) =>
      new cloudwatch.Metric({ namespace: 'AWS/States', metricName, dimensionsMap: { StateMachineArn: stateMachine.stateMachineArn }, statistic: cloudwatch.Stats.SUM, period: FIVE_MINUTES, label });
    const perStep = (make: (fn: PipelineFunction) => cloudwatch.IMetric) => functions.map(make);
    const perFunction = (make: (fn: PipelineFunction) => cloudwatch.IMetric) => everyFunction.map(make);
    const wide = { width: 12, height: 6 };
    this.dashboard = new cloudwatch.Dashboard(this, 'Dashboard', { defaultInterval: Duration.days(1) });
    this.dashboard.addWidgets(
      new cloudwatch.GraphWidget({
        ...wide,
        title: 'Uploads and outcomes',
        left: [
          sfnCount('ExecutionsStarted', 'uploads (runs started)'),
          sfnCount('ExecutionsSucceeded', 'succeeded'),
          rejected.with({ label: 'rejected (quarantined)' }),
          failed.with({ label: 'failed (not rejections)' }),
        ],
      }),
      new cloudwatch.AlarmStatusWidget({ ...wide, title: 'Alarms', alarms: this.alarms }),
    );
    this.dashboard.addWidgets(
      new cloudwatch.GraphWidget({
        ...wide,
        title: 'Failures by error name',
        left: [
          new cloudwatch.MathExpression({
            expression: `SEARCH('{${NAMESPACE},ErrorName,StateMachineArn} MetricName="${RUN_METRICS.failedByError}" StateMachineArn="${stateMachine.stateMachineArn}"', 'Sum', 300)`,
            usingMetrics: {},
            label: '',
            period: FIVE_MINUTES,
          }),
        ],
      }),
      new cloudwatch.GraphWidget({
        ...wide,
        title: 'Rejections by error name',
        left: REJECTION_ERRORS.map((name) => runMetric(RUN_METRICS.rejectedByError, { ErrorName: name }).with({ label: name })),
      }),
    );
    this.dashboard.addWidgets(
      new cloudwatch.GraphWidget({
        ...wide,
        title: 'Step run time (Step Functions LambdaFunctionRunTime, average)',
        left: perStep(
          (fn) =>
            new cloudwatch.Metric({
              namespace: 'AWS/States',
              metricName: 'LambdaFunctionRunTime',
              dimensionsMap: { LambdaFunctionArn: fn.functionArn },
              statistic: cloudwatch.Stats.AVERAGE,
              period: FIVE_MINUTES,
              label: fn.binaryName,
            }),
        ),
      }),
      new cloudwatch.GraphWidget({
        ...wide,
        title: 'Function duration (p99)',
        left: perFunction((fn) => fn.metricDuration({ statistic: cloudwatch.Stats.p(99), period: FIVE_MINUTES, label: fn.binaryName })),
      }),
    );
    this.dashboard.addWidgets(
      new cloudwatch.GraphWidget({
        ...wide,
        title: `Oldest original waiting under ${PREFIXES.photos}`,
        left: [waiting.with({ label: 'oldest waiting original (s)' })],
        leftAnnotations: [{ value: props.maxWaitingMinutes * 60, label: `${props.maxWaitingMinutes} minutes` }],
      }),
      new cloudwatch.GraphWidget({
        ...wide,
        title: 'Function errors and throttles',
        left: perFunction((fn) => fn.metricErrors({ period: FIVE_MINUTES, label: `${fn.binaryName} errors` })),
        right: perFunction((fn) => fn.metricThrottles({ period: FIVE_MINUTES, label: `${fn.binaryName} throttles` })),
      }),
    );
    this.dashboard.addWidgets(
      new cloudwatch.GraphWidget({
        ...wide,
        title: 'Dead-letter queue',
        left: [deadLetters.metricApproximateNumberOfMessagesVisible({ period: FIVE_MINUTES, statistic: cloudwatch.Stats.MAXIMUM, label: 'messages visible' })],
      }),
      new cloudwatch.TextWidget({
        ...wide,
        markdown:
          '### Bytes written to Wasabi\n\nNo metric: Wasabi publishes none to CloudWatch, and the archive function logs each copy it writes without its size. ' +
          'Wasabi\'s console shows the bucket\'s storage.',
      }),
    );
  }
}
