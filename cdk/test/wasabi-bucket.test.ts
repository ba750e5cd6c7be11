/**
 * The archive bucket at Wasabi made by `cdk deploy` (the `Custom::WasabiBucket` resource, its
 * Rust handler and the Provider framework), and the three Wasabi keys: which function may read
 * which key's secret, and the KMS grant for secrets under a customer-managed key.
 */
import { SETTINGS } from '../lib/contract';
import { WASABI_BUCKET_FUNCTION, WASABI_BUCKET_RESOURCE_TYPE } from '../lib/constructs/wasabi-bucket';
import { parseSettings } from '../lib/settings';
import { arnOf, idOf, only, synthTemplate } from './synth';

const template = synthTemplate();
const KMS_KEY = 'arn:aws:kms:eu-central-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab';

/** The ARN pattern `grantRead` of an imported secret gives (any suffix Secrets Manager adds). */
const secretArn = (name: string) => ({
  'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':secretsmanager:', { Ref: 'AWS::Region' }, ':', { Ref: 'AWS::AccountId' }, `:secret:${name}-??????`]],
});
const readSecret = (name: string) => ({ Effect: 'Allow', Action: ['secretsmanager:DescribeSecret', 'secretsmanager:GetSecretValue'], Resource: secretArn(name) });
const xray = { Effect: 'Allow', Action: ['xray:PutTelemetryRecords', 'xray:PutTraceSegments'], Resource: '*' };
const decrypt = {
  Effect: 'Allow',
  Action: 'kms:Decrypt',
  Resource: KMS_KEY,
  Condition: { StringEquals: { 'kms:ViaService': { 'Fn::Join': ['', ['secretsmanager.', { Ref: 'AWS::Region' }, '.amazonaws.com']] } } },
};
const writeLogs = (logGroupPrefix: string, t = template) => ({
  Effect: 'Allow',
  Action: ['logs:CreateLogStream', 'logs:PutLogEvents'],
  Resource: arnOf(idOf(t, 'AWS::Logs::LogGroup', logGroupPrefix)),
});
const statementsOf = (t: typeof template, policyPrefix: string) => only(t, 'AWS::IAM::Policy', policyPrefix)[1].PolicyDocument.Statement;

describe('the Wasabi bucket resource', () => {
  test('carries the bucket, its Object Lock mode and retention days, is retained, and is served by the framework', () => {
    const [id, properties] = only(template, WASABI_BUCKET_RESOURCE_TYPE, 'WasabiBucket');
    const onEvent = idOf(template, 'AWS::Lambda::Function', 'WasabiBucketProviderframeworkonEvent');
    expect(properties).toEqual({ ServiceToken: arnOf(onEvent), BucketName: 'photopipe-archive', ObjectLockMode: 'GOVERNANCE', RetentionDays: '90' });
    const resource = template.toJSON().Resources[id];
    expect([resource.DeletionPolicy, resource.UpdateReplacePolicy]).toEqual(['Retain', 'Retain']);
    const defaults = SETTINGS.settings;
    expect([defaults.wasabiObjectLockMode.default, defaults.wasabiRetentionDays.default]).toEqual(['GOVERNANCE', 90]);
  });

  test('its properties follow the settings', () => {
    const custom = synthTemplate({ wasabiBucket: 'my-archive', wasabiObjectLockMode: 'COMPLIANCE', wasabiRetentionDays: 0 });
    const [, properties] = only(custom, WASABI_BUCKET_RESOURCE_TYPE, 'WasabiBucket');
    expect(properties).toMatchObject({ BucketName: 'my-archive', ObjectLockMode: 'COMPLIANCE', RetentionDays: '0' });
  });

  test('the handler is the wasabi-bucket Rust function, sized as its contract says, with where Wasabi is and the setup key', () => {
    const [, handler] = only(template, 'AWS::Lambda::Function', 'WasabiBucketHandler');
    expect(handler).toMatchObject({
      Runtime: 'provided.al2023',
      Architectures: ['arm64'],
      MemorySize: WASABI_BUCKET_FUNCTION.memoryMb,
      Timeout: WASABI_BUCKET_FUNCTION.timeoutSeconds,
      TracingConfig: { Mode: 'Active' },
      LoggingConfig: expect.objectContaining({ LogFormat: 'JSON' }),
    });
    const spec = SETTINGS.settings;
    expect(handler.Environment.Variables).toEqual({
      RUST_LOG: 'info',
      [spec.wasabiEndpoint.env]: spec.wasabiEndpoint.default,
      [spec.wasabiRegion.env]: spec.wasabiRegion.default,
      [spec.wasabiBucket.env]: spec.wasabiBucket.default,
      [spec.wasabiSetupSecretName.env]: spec.wasabiSetupSecretName.default,
    });
    expect(WASABI_BUCKET_FUNCTION.linksImaging).toBe(false);
  });

  test("the handler's role: the setup key's secret, its own logs, X-Ray; nothing else", () => {
    expect(statementsOf(template, 'WasabiBucketHandlerRoleDefaultPolicy')).toEqual([xray, readSecret('demo/wasabi/setup')]);
    expect(statementsOf(template, 'WasabiBucketHandlerAccess')).toEqual([writeLogs('WasabiBucketHandlerLogs')]);
  });

  test("the framework's role: invoke the handler (and read its configuration), write its own logs", () => {
    const handler = arnOf(idOf(template, 'AWS::Lambda::Function', 'WasabiBucketHandler'));
    expect(statementsOf(template, 'WasabiBucketProviderRoleDefaultPolicy')).toEqual([
      { Effect: 'Allow', Action: 'lambda:InvokeFunction', Resource: [handler, { 'Fn::Join': ['', [handler, ':*']] }] },
      { Effect: 'Allow', Action: 'lambda:GetFunction', Resource: handler },
    ]);
    expect(statementsOf(template, 'WasabiBucketProviderAccess')).toEqual([writeLogs('WasabiBucketProviderLogs')]);
    const [, role] = only(template, 'AWS::IAM::Role', 'WasabiBucketProviderRole');
    expect(role.ManagedPolicyArns).toBeUndefined();
  });

  test('every pipeline function waits for the bucket', () => {
    const [resourceId] = only(template, WASABI_BUCKET_RESOURCE_TYPE, 'WasabiBucket');
    for (const prefix of ['FunctionsValidate', 'FunctionsThumbnail', 'FunctionsArchive', 'FunctionsCleanup']) {
      const id = Object.keys(template.findResources('AWS::Lambda::Function')).find((key) => key.startsWith(prefix) && !key.includes('Role'));
      expect([prefix, template.toJSON().Resources[id!].DependsOn]).toEqual([prefix, expect.arrayContaining([resourceId])]);
    }
  });

  test('wasabiManageBucket false leaves the bucket alone: no resource, no provider', () => {
    const unmanaged = synthTemplate({ wasabiManageBucket: false });
    expect(Object.keys(unmanaged.findResources(WASABI_BUCKET_RESOURCE_TYPE))).toEqual([]);
    expect(Object.keys(unmanaged.findResources('AWS::Lambda::Function')).filter((id) => id.startsWith('WasabiBucket'))).toEqual([]);
    expect(JSON.stringify(unmanaged.toJSON())).not.toContain('demo/wasabi/setup');
  });
});

describe('the Wasabi keys', () => {
  test('archive reads the write key alone, cleanup the read key alone', () => {
    expect(statementsOf(template, 'FunctionsArchiveRoleDefaultPolicy')).toEqual([xray, readSecret('demo/wasabi/access')]);
    expect(statementsOf(template, 'FunctionsCleanupRoleDefaultPolicy')).toEqual([xray, readSecret('demo/wasabi/read')]);
    const spec = SETTINGS.settings;
    const variables = (prefix: string) => only(template, 'AWS::Lambda::Function', prefix)[1].Environment.Variables;
    expect(variables('FunctionsArchive')).toMatchObject({ [spec.wasabiSecretName.env]: 'demo/wasabi/access' });
    expect(variables('FunctionsArchive')).not.toHaveProperty(spec.wasabiReadSecretName.env);
    expect(variables('FunctionsCleanup')).toMatchObject({ [spec.wasabiReadSecretName.env]: 'demo/wasabi/read' });
    expect(variables('FunctionsCleanup')).not.toHaveProperty(spec.wasabiSecretName.env);
  });

  test('no kms:Decrypt without a customer-managed key', () => {
    expect(JSON.stringify(template.findResources('AWS::IAM::Policy'))).not.toContain('kms:Decrypt');
  });

  test('wasabiSecretKmsKeyArn: each function that reads a Wasabi secret may decrypt with that key, through Secrets Manager only', () => {
    const encrypted = synthTemplate({ wasabiSecretKmsKeyArn: KMS_KEY, wasabiReadSecretName: 'prod/wasabi/read' });
    expect(statementsOf(encrypted, 'FunctionsArchiveRoleDefaultPolicy')).toEqual([xray, readSecret('demo/wasabi/access'), decrypt]);
    expect(statementsOf(encrypted, 'FunctionsCleanupRoleDefaultPolicy')).toEqual([xray, readSecret('prod/wasabi/read'), decrypt]);
    expect(statementsOf(encrypted, 'WasabiBucketHandlerRoleDefaultPolicy')).toEqual([xray, readSecret('demo/wasabi/setup'), decrypt]);
    const decrypters = Object.entries(encrypted.findResources('AWS::IAM::Policy')).filter(([, p]) => JSON.stringify(p).includes('kms:Decrypt'));
    expect(decrypters).toHaveLength(3);
  });
});

describe('the settings', () => {
  test('the lock mode is GOVERNANCE or COMPLIANCE, the days 0 to 36500', () => {
    expect(parseSettings({ wasabiObjectLockMode: 'COMPLIANCE', wasabiRetentionDays: 36500 })).toMatchObject({ wasabiObjectLockMode: 'COMPLIANCE', wasabiRetentionDays: 36500 });
    expect(() => parseSettings({ wasabiObjectLockMode: 'governance' })).toThrow('wasabiObjectLockMode must be one of GOVERNANCE, COMPLIANCE');
    expect(() => parseSettings({ wasabiRetentionDays: 36501 })).toThrow('wasabiRetentionDays must be a whole number from 0 to 36500');
    expect(() => parseSettings({ wasabiRetentionDays: -1 })).toThrow('wasabiRetentionDays must be a whole number from 0 to 36500');
  });

  test('three keys, three secrets', () => {
    expect(() => parseSettings({ wasabiReadSecretName: 'demo/wasabi/access' })).toThrow('must name three different secrets');
    expect(() => parseSettings({ wasabiSetupSecretName: 'demo/wasabi/read' })).toThrow('must name three different secrets');
    expect(() => parseSettings({ wasabiSetupSecretName: 'has space' })).toThrow('wasabiSetupSecretName must be a Secrets Manager secret name');
  });

  test('wasabiManageBucket is true or false, wasabiSecretKmsKeyArn a KMS key ARN', () => {
    expect(parseSettings({}).wasabiManageBucket).toBe(true);
    expect(() => parseSettings({ wasabiManageBucket: 'no' })).toThrow('wasabiManageBucket must be true or false');
    expect(() => parseSettings({ wasabiSecretKmsKeyArn: 'alias/wasabi' })).toThrow('wasabiSecretKmsKeyArn must be a KMS key ARN');
    expect(parseSettings({ wasabiSecretKmsKeyArn: KMS_KEY }).wasabiSecretKmsKeyArn).toBe(KMS_KEY);
  });
});
