/**
 * The photopipe stack: only wires the constructs (buckets and their guard rails, functions,
 * state machine, trigger, operations, the people's policies) together and names its outputs.
 */
import { CfnOutput, Stack, StackProps } from 'aws-cdk-lib';
import { Construct } from 'constructs';
import { PipelineFunctions } from './constructs/functions';
import { addGuardRails } from './constructs/guard-rails';
import { Operations } from './constructs/operations';
import { PEOPLE, People } from './constructs/people';
import { Reconciler } from './constructs/reconciler';
import { PipelineStateMachine, UploadTrigger } from './constructs/state-machine';
import { PhotoBuckets } from './constructs/storage';
import { WasabiBucket } from './constructs/wasabi-bucket';
import { Settings } from './settings';

export interface PhotopipeStackProps extends StackProps {
  readonly settings: Settings;
}

export class PhotopipeStack extends Stack {
  constructor(scope: Construct, id: string, props: PhotopipeStackProps) {
    super(scope, id, props);
    const { settings } = props;
    const buckets = new PhotoBuckets(this, 'Buckets', { noncurrentVersionDays: settings.noncurrentVersionDays, kms: settings.bucketKms });
    const functions = new PipelineFunctions(this, 'Functions', {
      dropbox: buckets.dropbox,
      thumbnails: buckets.thumbnails,
      settings,
    });
    // The archive bucket at Wasabi, made or checked before the functions that use it.
    const archive = settings.wasabiManageBucket ? new WasabiBucket(this, 'WasabiBucket', { settings }) : undefined;
    if (archive) for (const fn of functions.all) fn.node.addDependency(archive.resource);
    addGuardRails(this, {
      dropbox: buckets.dropbox,
      thumbnails: buckets.thumbnails,
      uploadRemover: functions.cleanup.role!,
      breakGlassRoleArn: settings.breakGlassRoleArn,
    });
    const pipeline = new PipelineStateMachine(this, 'Pipeline', {
      validate: functions.validate,
      thumbnail: functions.thumbnail,
      archive: functions.archive,
      cleanup: functions.cleanup,
      logRetentionDays: settings.logRetentionDays,
      logExecutionData: settings.logExecutionData,
      fastRetries: settings.fastRetries,
    });
    const trigger = new UploadTrigger(this, 'Trigger', { dropbox: buckets.dropbox, stateMachine: pipeline.stateMachine });
    const reconciler = new Reconciler(this, 'Reconciler', {
      dropbox: buckets.dropbox,
      stateMachine: pipeline.stateMachine,
      everyMinutes: settings.reconcileEveryMinutes,
      afterMinutes: settings.reconcileAfterMinutes,
      logRetentionDays: settings.logRetentionDays,
    });
    const operations = new Operations(this, 'Operations', {
      stateMachine: pipeline.stateMachine,
      functions: functions.all,
      otherFunctions: [reconciler.function],
      deadLetters: trigger.deadLetters,
      logRetentionDays: settings.logRetentionDays,
      alarmEmail: settings.alarmEmail,
      maxWaitingMinutes: settings.maxWaitingMinutes,
    });
    const people = new People(this, 'People', {
      dropbox: buckets.dropbox,
      thumbnails: buckets.thumbnails,
      stateMachine: pipeline.stateMachine,
      logGroups: [
        ...functions.all.map((fn) => fn.logGroup),
        reconciler.function.logGroup,
        pipeline.logGroup,
        operations.failedRuns,
        ...(archive?.logGroups ?? []),
      ],
      deadLetters: trigger.deadLetters,
      createGroups: settings.createGroups,
      wasabiReadSecretName: settings.wasabiReadSecretName,
      wasabiSecretKmsKeyArn: settings.wasabiSecretKmsKeyArn,
    });

    new CfnOutput(this, 'DropboxBucket', { value: buckets.dropbox.bucketName, description: 'Upload photos under photos/' });
    new CfnOutput(this, 'ThumbnailsBucket', { value: buckets.thumbnails.bucketName });
    new CfnOutput(this, 'StateMachineArn', { value: pipeline.stateMachine.stateMachineArn });
    new CfnOutput(this, 'DeadLetterQueueUrl', { value: trigger.deadLetters.queueUrl });
    if (archive) {
      new CfnOutput(this, 'WasabiBucketObjectLock', {
        value: `${archive.resource.getAttString('ObjectLock')}, default retention ${archive.resource.getAttString('DefaultRetention')}`,
        description: 'The archive bucket at Wasabi, as cdk deploy found or made it',
      });
    }
    new CfnOutput(this, 'AlarmTopicArn', { value: operations.topic.topicArn, description: 'Subscribe to be told of alarms' });
    new CfnOutput(this, 'DashboardName', { value: operations.dashboard.dashboardName });
    const capitalized = (person: string) => `${person[0].toUpperCase()}${person.slice(1)}`;
    const what = {
      uploader: 'put photos under photos/ of the dropbox',
      viewer: 'read the thumbnails',
      operator: 'watch, start and redrive runs, read their logs, the dead-letter queue and the quarantine',
      auditor: 'check that nothing is lost (photopipe status, audit): read the uploads and their versions, the thumbnails, the runs and the read-only Wasabi key',
    };
    for (const person of PEOPLE) {
      new CfnOutput(this, `${capitalized(person)}PolicyArn`, {
        value: people.policies[person].managedPolicyArn,
        description: `Attach to whoever may ${what[person]}`,
      });
      if (people.groups) {
        new CfnOutput(this, `${capitalized(person)}GroupName`, {
          value: people.groups[person].groupName,
          description: `Add the users who may ${what[person]}`,
        });
      }
    }
  }
}
