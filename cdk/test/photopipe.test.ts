/** The synthesized stack: buckets, functions, state machine, trigger, settings, and cdk-nag's AWS Solutions checks. */
import { readFileSync } from 'node:fs';
import { App, Validations } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import { FUNCTIONS, FunctionName, OUTCOME_TAG, PREFIXES, SETTINGS } from '../lib/contract';
import { ARM64_BUILD, BUILD_PROFILE_CONTEXT, PipelineFunction, bundlingOptions } from '../lib/constructs/pipeline-function';
import { PhotopipeStack } from '../lib/photopipe-stack';
import { RECONCILER_FUNCTION } from '../lib/constructs/reconciler';
import { WASABI_BUCKET_FUNCTION } from '../lib/constructs/wasabi-bucket';
import { DEFINITION_FILE } from '../lib/constructs/state-machine';
import { DEFAULT_SETTINGS, parseSettings } from '../lib/settings';

/** The feature flags and settings of `cdk.json`, as the CLI would pass them. */
const cdkContext = JSON.parse(readFileSync(`${__dirname}/../cdk.json`, 'utf8')).context;

/** Synthesises like the CLI, without building the Rust functions (bundling skipped). */
function synth(settings = DEFAULT_SETTINGS, nag = false): Template {
  const app = new App({ context: { ...cdkContext, 'aws:cdk:bundling-stacks': [] } });
  if (nag) {
    Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  }
  const stack = new PhotopipeStack(app, 'Test', { settings });
  if (nag) {
    app.synth();
  }
  return Template.fromStack(stack);
}

const template = synth();
const definition = readFileSync(DEFINITION_FILE, 'utf8');

/** The logical id of the one function whose handler binary is `name`. */
function functionId(name: string): string {
  const found = Object.entries(template.findResources('AWS::Lambda::Function', { Properties: { Description: `photopipe ${name} step` } }));
  expect(found).toHaveLength(1);
  return found[0][0];
}

describe('buckets', () => {
  test('the dropbox is versioned, private, TLS-only and sends events to EventBridge without a custom resource', () => {
    template.hasResourceProperties('AWS::S3::Bucket', {
      VersioningConfiguration: { Status: 'Enabled' },
      NotificationConfiguration: { EventBridgeConfiguration: { EventBridgeEnabled: true } },
      PublicAccessBlockConfiguration: { BlockPublicAcls: true, BlockPublicPolicy: true, IgnorePublicAcls: true, RestrictPublicBuckets: true },
    });
    expect(template.findResources('Custom::S3BucketNotifications')).toEqual({});
    expect(template.findResources('AWS::Lambda::Function', { Properties: { Runtime: Match.stringLikeRegexp('python') } })).toEqual({});
  });

  /** The dropbox's lifecycle rules in `synthesized`. */
  const dropboxRules = (synthesized: Template): Record<string, unknown>[] => {
    const dropboxes = Object.values(synthesized.findResources('AWS::S3::Bucket', { Properties: { VersioningConfiguration: { Status: 'Enabled' } } }));
    expect(dropboxes).toHaveLength(1);
    return dropboxes[0].Properties.LifecycleConfiguration.Rules;
  };

  test('the outcome tag comes from contract/settings.json', () => {
    expect(OUTCOME_TAG).toEqual({ key: 'photopipe-outcome', archived: 'archived', quarantined: 'quarantined' });
    expect(OUTCOME_TAG).toEqual(SETTINGS.lifecycle.outcomeTag);
    expect(PREFIXES).toEqual({ photos: 'photos/', quarantine: 'rejected/' });
  });

  test('the dropbox expires a noncurrent version under photos/ only once it is tagged archived or quarantined', () => {
    const expireTagged = (id: string, value: string) =>
      Match.exact({
        Id: id,
        Status: 'Enabled',
        Prefix: 'photos/',
        TagFilters: [{ Key: 'photopipe-outcome', Value: value }],
        NoncurrentVersionExpiration: { NoncurrentDays: 30 },
      });
    template.hasResourceProperties('AWS::S3::Bucket', {
      VersioningConfiguration: { Status: 'Enabled' },
      LifecycleConfiguration: {
        Rules: [
          expireTagged('expire-archived-originals', 'archived'),
          expireTagged('expire-quarantined-originals', 'quarantined'),
          Match.exact({ Id: 'abort-incomplete-uploads', Status: 'Enabled', AbortIncompleteMultipartUpload: { DaysAfterInitiation: 7 } }),
          Match.exact({ Id: 'drop-expired-delete-markers', Status: 'Enabled', ExpiredObjectDeleteMarker: true }),
        ],
      },
    });
    // No rule of the dropbox expires current versions, by days or by date.
    template.hasResourceProperties('AWS::S3::Bucket', {
      VersioningConfiguration: { Status: 'Enabled' },
      LifecycleConfiguration: {
        Rules: Match.arrayWith([Match.objectLike({ Id: 'expire-archived-originals', ExpirationInDays: Match.absent(), ExpirationDate: Match.absent() })]),
      },
    });
    expect(JSON.stringify(dropboxRules(template))).not.toContain('expire-removed-originals');
  });

  test.each([1, 90, 3650])('noncurrentVersionDays %d reaches both tagged rules, and only them', (days) => {
    const rules = dropboxRules(synth(parseSettings({ noncurrentVersionDays: days })));
    const expiring = rules.filter((rule) => 'NoncurrentVersionExpiration' in rule);
    expect(expiring.map((rule) => [rule.Id, rule.NoncurrentVersionExpiration])).toEqual([
      ['expire-archived-originals', { NoncurrentDays: days }],
      ['expire-quarantined-originals', { NoncurrentDays: days }],
    ]);
  });

  test('no dropbox rule expires or moves a current version, an untagged version, or anything under rejected/', () => {
    const rules = dropboxRules(template);
    expect(rules.length).toBe(4);
    const settled = [OUTCOME_TAG.archived, OUTCOME_TAG.quarantined];
    for (const rule of rules) {
      const id = rule.Id;
      // Current versions: no Expiration (days or date), no transition.
      for (const key of ['ExpirationInDays', 'ExpirationDate', 'Transitions', 'Transition', 'ObjectSizeGreaterThan', 'ObjectSizeLessThan']) {
        expect([id, key, key in rule]).toEqual([id, key, false]);
      }
      // A rule that removes stored versions is scoped to uploads and to one settled tag.
      const removesVersions = ['NoncurrentVersionExpiration', 'NoncurrentVersionTransitions', 'NoncurrentVersionTransition'].some((key) => key in rule);
      if (removesVersions) {
        expect([id, rule.Prefix]).toEqual([id, PREFIXES.photos]);
        const tags = rule.TagFilters as { Key: string; Value: string }[];
        expect([id, tags.length]).toEqual([id, 1]);
        expect([id, tags[0].Key, settled.includes(tags[0].Value)]).toEqual([id, OUTCOME_TAG.key, true]);
      } else {
        // Only the two housekeeping actions, which never remove a stored version.
        const actions = Object.keys(rule).filter((key) => !['Id', 'Status', 'Prefix'].includes(key));
        expect([id, actions]).toEqual([id, [expect.stringMatching(/^(AbortIncompleteMultipartUpload|ExpiredObjectDeleteMarker)$/)]]);
      }
      expect([id, String(rule.Prefix ?? '').startsWith(PREFIXES.quarantine)]).toEqual([id, false]);
      expect([id, 'Filter' in rule]).toEqual([id, false]);
    }
  });

  test('buckets survive a stack deletion', () => {
    for (const bucket of Object.values(template.findResources('AWS::S3::Bucket'))) {
      expect(bucket.DeletionPolicy).toBe('Retain');
    }
  });
});

describe('functions', () => {
  test('six Rust functions on provided.al2023 for ARM64: the four steps, the reconciler and the Wasabi bucket provider', () => {
    template.resourcePropertiesCountIs('AWS::Lambda::Function', { Runtime: 'provided.al2023', Architectures: ['arm64'] }, 6);
  });

  test('settings reach the functions as environment variables', () => {
    const settings = parseSettings({ thumbnailRenditions: ['320x200:q70', '1024x1024:fill:webp'], wasabiBucket: 'my-archive' });
    const custom = synth(settings);
    custom.hasResourceProperties('AWS::Lambda::Function', {
      Description: 'photopipe thumbnail step',
      Environment: { Variables: Match.objectLike({ THUMBNAIL_RENDITIONS: '320x200:q70,1024x1024:fill:webp' }) },
    });
    custom.hasResourceProperties('AWS::Lambda::Function', {
      Description: 'photopipe archive step',
      Environment: {
        Variables: Match.objectLike({
          WASABI_BUCKET: 'my-archive',
          WASABI_ENDPOINT: 'https://s3.eu-central-2.wasabisys.com',
          WASABI_SECRET_NAME: 'demo/wasabi/access',
        }),
      },
    });
  });

  test('the ARM64 build first makes the static libde265 that libheif links (HEIC), and points cmake at it', () => {
    const prefix = ARM64_BUILD.environment?.CMAKE_PREFIX_PATH ?? '';
    expect(prefix).toMatch(/\/\.cache\/libde265\/aarch64$/);
    expect(ARM64_BUILD.environment).toMatchObject({ PKG_CONFIG_PATH: `${prefix}/lib/pkgconfig`, PKG_CONFIG_ALLOW_CROSS: '1' });
    const hook = ARM64_BUILD.commandHooks?.beforeBundling('', '') ?? [];
    expect(hook).toHaveLength(1);
    expect(hook[0]).toMatch(/scripts\/libde265" aarch64$/);
  });

  test('only the functions that link the imaging engine build libde265 first', () => {
    const entries = Object.entries(FUNCTIONS.functions);
    expect(entries.some(([, entry]) => entry.linksImaging)).toBe(true);
    expect(entries.some(([, entry]) => !entry.linksImaging)).toBe(true);
    for (const [name, entry] of entries) {
      const options = bundlingOptions(entry);
      if (entry.linksImaging) {
        expect([name, options]).toEqual([name, ARM64_BUILD]);
      } else {
        // Plain cargo-lambda bundling: no hook, no cmake/pkg-config environment.
        expect([name, options]).toEqual([name, {}]);
      }
    }
    // …and the stack's functions are bundled with exactly those options.
    const app = new App({ context: { ...cdkContext, 'aws:cdk:bundling-stacks': [] } });
    const stack = new PhotopipeStack(app, 'Test', { settings: DEFAULT_SETTINGS });
    const built = stack.node.findAll().filter((c): c is PipelineFunction => c instanceof PipelineFunction);
    expect(built.map((fn) => fn.binaryName).sort()).toEqual([...Object.keys(FUNCTIONS.functions), 'reconcile', 'wasabi-bucket'].sort());
    for (const fn of built) {
      const entry = FUNCTIONS.functions[fn.binaryName as FunctionName] ?? (fn.binaryName === 'reconcile' ? RECONCILER_FUNCTION : WASABI_BUCKET_FUNCTION);
      expect([fn.binaryName, fn.bundlingOptions.commandHooks !== undefined]).toEqual([fn.binaryName, entry.linksImaging]);
      expect(fn.bundlingOptions).toEqual({ ...bundlingOptions(entry), profile: 'release' });
    }
  });

  test('a deploy builds the functions in the release profile; the test command\'s synth in dev, by context', () => {
    const profiles = (context: Record<string, unknown>) => {
      const app = new App({ context: { ...cdkContext, 'aws:cdk:bundling-stacks': [], ...context } });
      const stack = new PhotopipeStack(app, 'Test', { settings: DEFAULT_SETTINGS });
      const built = stack.node.findAll().filter((c): c is PipelineFunction => c instanceof PipelineFunction);
      return [...new Set(built.map((fn) => fn.bundlingOptions.profile))];
    };
    expect(profiles({})).toEqual(['release']);
    expect(profiles({ [BUILD_PROFILE_CONTEXT]: 'dev' })).toEqual(['dev']);
    expect(() => profiles({ [BUILD_PROFILE_CONTEXT]: '--release; rm' })).toThrow(/must name a cargo profile/);
  });

  test('each function has the memory and timeout of contract/functions.json', () => {
    const entries = Object.entries(FUNCTIONS.functions);
    // …and the reconciler, sized in reconciler.ts (reconciler.test.ts), the Wasabi bucket's
    // provider and its framework function (wasabi-bucket.test.ts).
    expect(Object.keys(template.findResources('AWS::Lambda::Function'))).toHaveLength(entries.length + 3);
    for (const [name, { memoryMb, timeoutSeconds }] of entries) {
      template.hasResourceProperties('AWS::Lambda::Function', {
        Description: `photopipe ${name} step`,
        MemorySize: memoryMb,
        Timeout: timeoutSeconds,
      });
    }
  });

  test('the functions get exactly the environment variables the contract names, carrying the settings', () => {
    const settings = parseSettings({ thumbnailRenditions: ['320x200:q70', '1024x1024:fill:webp'], maxBytes: 1000, maxPixels: 2000, wasabiBucket: 'my-archive' });
    const custom = synth(settings);
    const spec = SETTINGS.settings;
    const thumbnailsBucket = { [SETTINGS.environment.thumbnailsBucket]: { Ref: expect.stringMatching(/^BucketsThumbnails/) } };
    const limits = { [spec.maxBytes.env]: '1000', [spec.maxPixels.env]: '2000' };
    const wasabi = {
      [spec.wasabiEndpoint.env]: settings.wasabiEndpoint,
      [spec.wasabiRegion.env]: settings.wasabiRegion,
      [spec.wasabiBucket.env]: 'my-archive',
    };
    const expected: Record<FunctionName, Record<string, unknown>> = {
      validate: limits,
      thumbnail: {
        ...thumbnailsBucket,
        [spec.thumbnailRenditions.env]: settings.thumbnailRenditions.join(spec.thumbnailRenditions.separator),
        ...limits,
      },
      // Each with its own key's secret.
      archive: { ...wasabi, [spec.wasabiSecretName.env]: settings.wasabiSecretName },
      cleanup: { ...wasabi, [spec.wasabiReadSecretName.env]: settings.wasabiReadSecretName, ...thumbnailsBucket },
    };
    const seen = new Set<string>();
    for (const [name, variables] of Object.entries(expected)) {
      const [fn] = Object.values(custom.findResources('AWS::Lambda::Function', { Properties: { Description: `photopipe ${name} step` } }));
      expect([name, fn.Properties.Environment.Variables]).toEqual([name, { RUST_LOG: 'info', ...variables }]);
      Object.keys(variables).forEach((key) => seen.add(key));
    }
    // The setup key's secret reaches the Wasabi bucket's provider alone (wasabi-bucket.test.ts).
    const provider = Object.values(custom.findResources('AWS::Lambda::Function', { Properties: { Description: Match.stringLikeRegexp('Wasabi archive bucket') } }));
    expect(provider).toHaveLength(1);
    expect(provider[0].Properties.Environment.Variables).toEqual({ RUST_LOG: 'info', ...wasabi, [spec.wasabiSetupSecretName.env]: settings.wasabiSetupSecretName });
    seen.add(spec.wasabiSetupSecretName.env);
    // Every variable the contract names reaches some function.
    const named = [...Object.values(spec).flatMap((setting) => ('env' in setting && setting.env ? [setting.env] : [])), SETTINGS.environment.thumbnailsBucket];
    expect([...seen].sort()).toEqual(named.sort());
  });

  test('only cleanup may delete, and only uploads under photos/', () => {
    const policies = template.findResources('AWS::IAM::Policy');
    const deleters = Object.entries(policies).filter(([, policy]) => JSON.stringify(policy).includes('s3:DeleteObject'));
    expect(deleters.map(([id]) => id)).toEqual([expect.stringMatching(/CleanupAccess/)]);
    const statement = deleters[0][1].Properties.PolicyDocument.Statement.find((s: { Action: string[] }) => s.Action.includes('s3:DeleteObject'));
    expect(JSON.stringify(statement.Resource)).toContain('/photos/*');
    expect(JSON.stringify(policies)).not.toMatch(/"s3:\*"|"s3:DeleteObjectVersion"/);
  });

  /** A resource of a function's policy, named by what it is: `dropbox/photos/*`, `thumbnails`, `own log group`. */
  const resourceName = (resource: unknown): string => {
    const alias = (logicalId: string) =>
      /^BucketsDropbox/.test(logicalId) ? 'dropbox' : /^BucketsThumbnails/.test(logicalId) ? 'thumbnails' : /Logs/.test(logicalId) ? 'own log group' : logicalId;
    const r = resource as { 'Fn::GetAtt'?: [string, string]; 'Fn::Join'?: [string, [{ 'Fn::GetAtt': [string, string] }, string]] };
    if (r['Fn::GetAtt']) return alias(r['Fn::GetAtt'][0]);
    if (r['Fn::Join']) return `${alias(r['Fn::Join'][1][0]['Fn::GetAtt'][0])}${r['Fn::Join'][1][1]}`;
    return JSON.stringify(resource);
  };
  /** What the function's own policy allows: actions by resource (and ListBucket's prefixes), however the statements are split or merged. */
  const grants = (name: string): Record<string, string[]> => {
    const [policy] = Object.values(template.findResources('AWS::IAM::Policy', { Properties: { Roles: [{ Ref: Match.stringLikeRegexp(`^Functions${name[0].toUpperCase()}${name.slice(1)}Role`) }] } }))
      .filter((p) => JSON.stringify(p).includes('logs:PutLogEvents'));
    const allowed: Record<string, Set<string>> = {};
    for (const statement of policy.Properties.PolicyDocument.Statement) {
      expect(statement.Effect).toBe('Allow');
      expect(Object.keys(statement).sort()).toEqual(statement.Condition ? ['Action', 'Condition', 'Effect', 'Resource'] : ['Action', 'Effect', 'Resource']);
      const prefixes = statement.Condition ? ` prefixes ${JSON.stringify(statement.Condition)}` : '';
      for (const resource of [statement.Resource].flat()) {
        const key = `${resourceName(resource)}${prefixes}`;
        allowed[key] ??= new Set();
        for (const action of [statement.Action].flat()) allowed[key].add(action);
      }
    }
    return Object.fromEntries(Object.entries(allowed).map(([key, actions]) => [key, [...actions].sort()]));
  };

  test('each function may do exactly this, on exactly these resources', () => {
    const readUploads = { 'dropbox/photos/*': ['s3:GetObject', 's3:GetObjectVersion'] };
    const listUploads = { 'dropbox prefixes {"StringLike":{"s3:prefix":["photos/*"]}}': ['s3:ListBucket'] };
    const ownLogs = { 'own log group': ['logs:CreateLogStream', 'logs:PutLogEvents'] };
    expect(grants('validate')).toEqual({ ...readUploads, ...listUploads, ...ownLogs });
    // thumbnail HEADs the current object under an upload's key (s3:GetObject on photos/*, with
    // ListBucket so a missing key is a 404) and writes with If-Match / If-None-Match
    // (s3:PutObject, no other action).
    expect(grants('thumbnail')).toEqual({
      ...readUploads,
      ...listUploads,
      'thumbnails/*': ['s3:GetObject', 's3:PutObject'],
      thumbnails: ['s3:ListBucket'],
      ...ownLogs,
    });
    expect(grants('archive')).toEqual({ ...readUploads, ...listUploads, ...ownLogs });
    expect(grants('cleanup')).toEqual({
      'dropbox/photos/*': ['s3:DeleteObject', 's3:GetObject', 's3:GetObjectVersion', 's3:PutObjectTagging', 's3:PutObjectVersionTagging'],
      'dropbox/rejected/*': ['s3:AbortMultipartUpload', 's3:GetObject', 's3:PutObject'],
      'dropbox prefixes {"StringLike":{"s3:prefix":["photos/*","rejected/*"]}}': ['s3:ListBucket'],
      'thumbnails/*': ['s3:GetObject'],
      thumbnails: ['s3:ListBucket'],
      ...ownLogs,
    });
  });

  test('only cleanup may tag objects, and only uploads under photos/', () => {
    const tagging = /"s3:(PutObjectTagging|PutObjectVersionTagging|DeleteObjectTagging|DeleteObjectVersionTagging|PutObject\*|\*Tagging)"/;
    const taggers = Object.entries(template.findResources('AWS::IAM::Policy')).filter(([, policy]) => tagging.test(JSON.stringify(policy)));
    expect(taggers.map(([id]) => id)).toEqual([expect.stringMatching(/^FunctionsCleanupAccess/)]);
    const statements = taggers[0][1].Properties.PolicyDocument.Statement.filter((s: { Action: string | string[] }) => tagging.test(JSON.stringify(s.Action)));
    expect(statements.flatMap((s: { Resource: unknown }) => [s.Resource].flat().map(resourceName))).toEqual(['dropbox/photos/*']);
    expect(JSON.stringify(template.findResources('AWS::IAM::Policy'))).not.toMatch(/DeleteObject(Version)?Tagging/);
  });

  test("cleanup's grant under rejected/ covers every quarantine key, and nothing under photos/", () => {
    // IAM's * matches any run of characters, / included.
    const matches = (pattern: string, key: string) => new RegExp(`^${pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`).test(key);
    const [pattern] = Object.keys(grants('cleanup'))
      .filter((key) => key.startsWith('dropbox/rejected/'))
      .map((key) => key.slice('dropbox/'.length));
    expect(pattern).toBe(`${PREFIXES.quarantine}*`);
    const version = '3sL4kqtJlcpXroDTDmJ.rmSpXd3dIbrHY';
    const hash = 'a'.repeat(64);
    for (const key of [
      `rejected/2024/holiday/IMG_0001.HEIC~${version}`,
      `rejected/2024/holiday/IMG_0001.HEIC~${version}.reason.json`,
      `rejected/IMG 0002 (copy).jpg~unversioned`,
      `rejected/long-keys/${hash}~${version}`,
      `rejected/long-keys/${hash}~${version}.reason.json`,
    ]) {
      expect([key, matches(pattern, key)]).toEqual([key, true]);
    }
    for (const key of ['photos/2024/IMG_0001.HEIC', 'rejected', 'thumbnails/rejected/x']) expect([key, matches(pattern, key)]).toEqual([key, false]);
  });

  test('only archive, cleanup and the Wasabi bucket provider read a Wasabi secret, each its own (wasabi-bucket.test.ts)', () => {
    const readers = Object.entries(template.findResources('AWS::IAM::Policy')).filter(([, policy]) =>
      JSON.stringify(policy).includes('secretsmanager:GetSecretValue'),
    );
    expect(readers.map(([id]) => id).sort()).toEqual([
      expect.stringMatching(/ArchiveRole/),
      expect.stringMatching(/CleanupRole/),
      expect.stringMatching(/WasabiBucketHandlerRole/),
    ]);
  });
});

describe('state machine', () => {
  test('is STANDARD, logs every event without execution data to its own log group, and is traced', () => {
    const [logsId] = Object.keys(template.findResources('AWS::Logs::LogGroup')).filter((id) => /^PipelineLogs/.test(id));
    template.hasResourceProperties('AWS::StepFunctions::StateMachine', {
      StateMachineType: 'STANDARD',
      LoggingConfiguration: Match.exact({
        Level: 'ALL',
        IncludeExecutionData: false,
        Destinations: [{ CloudWatchLogsLogGroup: { LogGroupArn: { 'Fn::GetAtt': [logsId, 'Arn'] } } }],
      }),
      TracingConfiguration: { Enabled: true },
    });
    expect(template.toJSON().Resources[logsId].Properties).toEqual({ RetentionInDays: 90 });
  });

  test('logExecutionData puts the states\' input and output in the log events', () => {
    synth(parseSettings({ logExecutionData: true })).hasResourceProperties('AWS::StepFunctions::StateMachine', {
      LoggingConfiguration: Match.objectLike({ Level: 'ALL', IncludeExecutionData: true }),
    });
  });

  test('fastRetries cuts every retrier\'s waits to the contract\'s fast values and keeps every attempt', () => {
    const production = JSON.parse(definition);
    const [machine] = Object.values(synth(parseSettings({ fastRetries: true })).findResources('AWS::StepFunctions::StateMachine'));
    const fast = JSON.parse(machine.Properties.DefinitionString);
    let retriers = 0;
    for (const [name, state] of Object.entries<{ Retry?: Record<string, unknown>[] }>(production.States)) {
      for (const [i, retrier] of (state.Retry ?? []).entries()) {
        retriers += 1;
        expect([name, fast.States[name].Retry[i]]).toEqual([
          name,
          { ...retrier, IntervalSeconds: SETTINGS.retries.fast.intervalSeconds, MaxDelaySeconds: SETTINGS.retries.fast.maxDelaySeconds },
        ]);
      }
    }
    expect(retriers).toBeGreaterThanOrEqual(15);
    expect(SETTINGS.retries.fast).toEqual({ intervalSeconds: 1, maxDelaySeconds: 2 });
    expect(() => parseSettings({ fastRetries: 'yes' })).toThrow(/fastRetries must be true or false/);
  });

  test('every ${...} in the ASL file has a substitution, each naming one of our functions', () => {
    const placeholders = [...new Set([...definition.matchAll(/\$\{(\w+)\}/g)].map((m) => m[1]))].sort();
    expect(placeholders).toEqual(['ArchiveFunctionArn', 'CleanupFunctionArn', 'ThumbnailFunctionArn', 'ValidateFunctionArn']);
    const [machine] = Object.values(template.findResources('AWS::StepFunctions::StateMachine'));
    const substitutions = machine.Properties.DefinitionSubstitutions;
    expect(Object.keys(substitutions).sort()).toEqual(placeholders);
    for (const name of ['validate', 'thumbnail', 'archive', 'cleanup']) {
      const key = `${name[0].toUpperCase()}${name.slice(1)}FunctionArn`;
      expect(substitutions[key]).toEqual({ 'Fn::GetAtt': [functionId(name), 'Arn'] });
    }
  });

  test('the definition is inlined from statemachine/pipeline.asl.json', () => {
    const [machine] = Object.values(template.findResources('AWS::StepFunctions::StateMachine'));
    expect(machine.Properties.DefinitionString).toBe(definition);
  });

  test('may invoke exactly the four functions', () => {
    // (The Wasabi bucket's custom resource framework invokes its own handler: wasabi-bucket.test.ts.)
    const invoke = Object.entries(template.findResources('AWS::IAM::Policy'))
      .filter(([id]) => !id.startsWith('WasabiBucketProviderRole'))
      .map(([, policy]) => policy)
      .flatMap((policy) => policy.Properties.PolicyDocument.Statement)
      .filter((statement: { Action: string | string[] }) => [statement.Action].flat().includes('lambda:InvokeFunction'));
    expect(invoke).toHaveLength(1);
    const resources = invoke[0].Resource.map((r: { 'Fn::GetAtt': string[] }) => r['Fn::GetAtt'][0]).sort();
    expect(resources).toEqual(['validate', 'thumbnail', 'archive', 'cleanup'].map(functionId).sort());
  });
});

describe('trigger', () => {
  test('Object Created under photos/ of the dropbox starts the state machine, with a dead-letter queue', () => {
    const [dropboxId] = Object.keys(template.findResources('AWS::S3::Bucket', { Properties: { VersioningConfiguration: { Status: 'Enabled' } } }));
    template.hasResourceProperties('AWS::Events::Rule', {
      EventPattern: {
        source: ['aws.s3'],
        'detail-type': ['Object Created'],
        detail: { bucket: { name: [{ Ref: dropboxId }] }, object: { key: [{ prefix: 'photos/' }] } },
      },
      Targets: [
        Match.objectLike({
          Arn: { Ref: Match.stringLikeRegexp('StateMachine') },
          DeadLetterConfig: { Arn: { 'Fn::GetAtt': [Match.stringLikeRegexp('DeadLetters'), 'Arn'] } },
          RetryPolicy: { MaximumEventAgeInSeconds: 86400, MaximumRetryAttempts: 185 },
        }),
      ],
    });
  });
});

describe('settings', () => {
  test('defaults apply when the context is absent, and cdk.json states them', () => {
    expect(parseSettings(undefined)).toEqual(DEFAULT_SETTINGS);
    expect(parseSettings(cdkContext.photopipe)).toEqual(DEFAULT_SETTINGS);
  });

  test.each([
    [{ thumbnailRenditions: ['0x256'] }, /rendition "0x256": the box must be between 1x1 and 8192x8192/],
    [{ thumbnailRenditions: ['256x256:q101'] }, /rendition "256x256:q101": quality must be 1-100/],
    [{ thumbnailRenditions: ['256x256:gif'] }, /unknown option "gif"/],
    [{ thumbnailRenditions: ['256x256', '256x256:q90'] }, /two would share the folder 256x256 and format jpg/],
    [{ thumbnailRenditions: [] }, /thumbnailRenditions must be a non-empty list/],
    [{ maxPixels: 0 }, /maxPixels must be a whole number from 1/],
    [{ wasabiEndpoint: 'http://s3.wasabisys.com' }, /wasabiEndpoint must be an https:\/\/ endpoint URL/],
    [{ wasabiBucket: 'Bad_Bucket' }, /wasabiBucket must be a valid bucket name/],
    [{ thumbnailSize: 256 }, /unknown photopipe setting\(s\): thumbnailSize/],
  ])('%j is refused at synth time', (raw, message) => {
    expect(() => parseSettings(raw)).toThrow(message);
  });
});

describe('cdk-nag', () => {
  test('AWS Solutions checks pass, every acknowledgement with a reason', () => {
    expect(() => synth(DEFAULT_SETTINGS, true)).not.toThrow();
  });
});
