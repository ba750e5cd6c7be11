/** Synthesising the stack for the tests, as the CLI would, without building the Rust functions. */
import { readFileSync } from 'node:fs';
import { App, Stack, Validations } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import { PhotopipeStack } from '../lib/photopipe-stack';
import { Settings, parseSettings } from '../lib/settings';

/** The feature flags and settings of `cdk.json`, as the CLI would pass them. */
export const cdkContext = JSON.parse(readFileSync(`${__dirname}/../cdk.json`, 'utf8')).context;

/** A stack of `settings` (over the defaults) in an app with `cdk.json`'s context; bundling is skipped. */
export function photopipeStack(settings: Settings | Record<string, unknown> = {}, context: Record<string, unknown> = {}): { app: App; stack: Stack } {
  const app = new App({ context: { ...cdkContext, 'aws:cdk:bundling-stacks': [], ...context } });
  const stack = new PhotopipeStack(app, 'Test', { settings: parseSettings(settings) });
  return { app, stack };
}

/**
 * Every optional part switched on, for the gates (cdk-nag, cfn-lint, checkov): groups, the
 * buckets' KMS key, a break-glass role, an alarm e-mail, the state's data in the logs, a
 * longer log retention, every function reserved, the Wasabi secrets' KMS key.
 */
export const EVERYTHING = {
  createGroups: true,
  bucketKms: true,
  breakGlassRoleArn: 'arn:aws:iam::123456789012:role/break-glass',
  alarmEmail: 'ops@example.com',
  logExecutionData: true,
  logRetentionDays: 365,
  reservedConcurrency: { validate: 5, thumbnail: 5, archive: 5, cleanup: 5 },
  wasabiSecretKmsKeyArn: 'arn:aws:kms:eu-central-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab',
};

/** The template of a stack of `settings`. */
export function synthTemplate(settings: Record<string, unknown> = {}, context: Record<string, unknown> = {}): Template {
  return Template.fromStack(photopipeStack(settings, context).stack);
}

/** Synthesises a stack of `settings` with cdk-nag's AWS Solutions checks, which throw on any unacknowledged finding. */
export function synthWithNag(settings: Record<string, unknown> = {}): Template {
  const app = new App({ context: { ...cdkContext, 'aws:cdk:bundling-stacks': [] } });
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  const stack = new PhotopipeStack(app, 'Test', { settings: parseSettings(settings) });
  app.synth();
  return Template.fromStack(stack);
}

/** The one resource of `type` whose logical id starts with `prefix`: its id and properties. */
export function only(template: Template, type: string, prefix: string): [string, Record<string, any>] {
  const found = Object.entries(template.findResources(type)).filter(([id]) => id.startsWith(prefix));
  if (found.length !== 1) throw new Error(`expected one ${type} named ${prefix}…, found ${found.map(([id]) => id).join(', ') || 'none'}`);
  return [found[0][0], found[0][1].Properties];
}

/** The logical id of the one resource of `type` whose id starts with `prefix`. */
export function idOf(template: Template, type: string, prefix: string): string {
  return only(template, type, prefix)[0];
}

/** `Fn::GetAtt` of a resource's Arn. */
export const arnOf = (id: string) => ({ 'Fn::GetAtt': [id, 'Arn'] });
/** An object ARN pattern under a bucket, as CDK writes it. */
export const objectsOf = (bucketId: string, pattern: string) => ({ 'Fn::Join': ['', [arnOf(bucketId), `/${pattern}`]] });
