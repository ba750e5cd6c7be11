/** cdk-nag's AWS Solutions checks as a gate: no finding unacknowledged, and no acknowledgement without a finding. */
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { PhotopipeStack } from '../lib/photopipe-stack';
import { parseSettings } from '../lib/settings';
import { EVERYTHING, cdkContext, synthWithNag } from './synth';

test('AWS Solutions checks pass with every optional part switched on', () => {
  expect(() => synthWithNag(EVERYTHING)).not.toThrow();
});

interface Acknowledged {
  readonly path: string;
  readonly id: string;
  readonly reason: string;
}

interface Violation {
  readonly ruleName: string;
  readonly violatingConstructs: { readonly constructPath: string }[];
}

/** The acknowledgements the stack makes, and cdk-nag's findings when none of them is applied. */
function findingsWithoutAcknowledgements(): { acknowledged: Acknowledged[]; violations: Violation[] } {
  const acknowledged: Acknowledged[] = [];
  const spy = jest.spyOn(Validations.prototype, 'acknowledge').mockImplementation(function (this: Validations, ...rules) {
    const scope = (this as unknown as { scope: { node: { path: string } } }).scope;
    for (const { id, reason } of rules) acknowledged.push({ path: scope.node.path, id, reason });
  });
  try {
    const app = new App({ context: { ...cdkContext, 'aws:cdk:bundling-stacks': [] } });
    Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
    new PhotopipeStack(app, 'Test', { settings: parseSettings(EVERYTHING) });
    expect(() => app.synth()).toThrow(/ERROR/);
    const report = JSON.parse(readFileSync(path.join(app.outdir, 'validation-report.json'), 'utf8'));
    return { acknowledged, violations: report.pluginReports.flatMap((r: { violations: Violation[] }) => r.violations) };
  } finally {
    spy.mockRestore();
  }
}

describe('acknowledgements', () => {
  const { acknowledged, violations } = findingsWithoutAcknowledgements();
  const covers = (ack: Acknowledged, constructPath: string) => constructPath === ack.path || constructPath.startsWith(`${ack.path}/`);

  test('each answers a finding that fires without it (none is stale)', () => {
    expect(acknowledged.length).toBeGreaterThan(0);
    for (const ack of acknowledged) {
      const answered = violations.some((v) => v.ruleName === ack.id && v.violatingConstructs.some((c) => covers(ack, c.constructPath)));
      expect([ack.path, ack.id, answered]).toEqual([ack.path, ack.id, true]);
    }
  });

  test('each finding is answered by an acknowledgement on its construct or a parent', () => {
    for (const v of violations) {
      for (const { constructPath } of v.violatingConstructs) {
        const answered = acknowledged.some((ack) => ack.id === v.ruleName && covers(ack, constructPath));
        expect([v.ruleName, constructPath, answered]).toEqual([v.ruleName, constructPath, true]);
      }
    }
  });

  test('each gives a reason of its own, of some length', () => {
    for (const ack of acknowledged) expect([ack.id, ack.reason.length >= 40]).toEqual([ack.id, true]);
  });

  test('the findings acknowledged: wildcards IAM cannot narrow, and the dead-letter queue without its own', () => {
    const ids = [...new Set(violations.map((v) => v.ruleName.replace(/<(\w+?)[0-9A-F]{8}\./g, '<$1.')))].sort();
    expect(ids).toEqual([
      'AwsSolutions-IAM5[Resource::*]',
      'AwsSolutions-IAM5[Resource::<BucketsDropbox.Arn>/photos/*]',
      'AwsSolutions-IAM5[Resource::<BucketsDropbox.Arn>/rejected/*]',
      'AwsSolutions-IAM5[Resource::<BucketsThumbnails.Arn>/*]',
      'AwsSolutions-IAM5[Resource::<WasabiBucketHandler.Arn>:*]',
      'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:execution:<PipelineStateMachine.Name>:*]',
      'AwsSolutions-SQS3',
    ]);
  });
});
