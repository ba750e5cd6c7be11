/**
 * One of the pipeline's Rust Lambdas: built by cargo-lambda for ARM64 (`provided.al2023`),
 * sized as `contract/functions.json` says, traced by X-Ray, logging JSON (Lambda's logging
 * configuration) to its own log group with a retention, and with its own role whose inline
 * policy allows exactly the statements given, and the cdk-nag acknowledgements for the object
 * wildcards those statements need.
 */
import * as path from 'node:path';
import { CfnElement, Duration, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { BundlingOptions, RustFunction } from 'cargo-lambda-cdk';
import { Construct } from 'constructs';
import { CheckovSkip, LOG_GROUP_WITHOUT_KMS, PIPELINE_FUNCTION_SKIPS, UNRESERVED_CONCURRENCY, skipCheckov } from '../checkov';
import { FunctionContract } from '../contract';

const WORKSPACE = path.join(__dirname, '..', '..', '..');
/** The Cargo workspace whose binaries are the functions. */
export const WORKSPACE_MANIFEST = path.join(WORKSPACE, 'Cargo.toml');
/**
 * The build of the functions that link the imaging engine: the static ARM64 libde265 (HEVC)
 * that libheif links for HEIC is built first (`scripts/libde265 aarch64`, from Debian's
 * source), and these variables point libheif-sys's cmake and pkg-config at it (the host
 * build's are in .cargo/config.toml).
 */
const LIBDE265_ARM64 = path.join(WORKSPACE, '.cache', 'libde265', 'aarch64');
export const ARM64_BUILD: BundlingOptions = {
  environment: {
    CMAKE_PREFIX_PATH: LIBDE265_ARM64,
    PKG_CONFIG_PATH: path.join(LIBDE265_ARM64, 'lib', 'pkgconfig'),
    PKG_CONFIG_ALLOW_CROSS: '1',
  },
  commandHooks: {
    beforeBundling: () => [`bash "${path.join(WORKSPACE, 'scripts', 'libde265')}" aarch64`],
    afterBundling: () => [],
  },
};

/** How a function is bundled: with libde265 built first only if it links the imaging engine. */
export function bundlingOptions(contract: FunctionContract): BundlingOptions {
  return contract.linksImaging ? ARM64_BUILD : {};
}

/**
 * The context key naming the cargo profile the functions are built with: `release` (the
 * default) for a deploy; the test command's `cdk synth` builds every function in `dev`, the
 * one profile all its tests use, so CI compiles the workspace for ARM64 once and unoptimised.
 */
export const BUILD_PROFILE_CONTEXT = 'photopipe:buildProfile';

/** The cargo profile of `scope`'s functions: the context's, or `release`. */
export function buildProfile(scope: Construct): string {
  const profile: unknown = scope.node.tryGetContext(BUILD_PROFILE_CONTEXT) ?? 'release';
  if (typeof profile !== 'string' || !/^[a-z][a-z0-9_-]*$/.test(profile)) {
    throw new Error(`context ${BUILD_PROFILE_CONTEXT} must name a cargo profile such as release or dev, got ${JSON.stringify(profile)}`);
  }
  return profile;
}

/** A bucket and the key pattern (ending in `*`) a function may reach in it. */
export interface ObjectWildcard {
  readonly bucket: s3.IBucket;
  readonly pattern: string;
}

/** cdk-nag's finding id for an object-ARN wildcard: it names the bucket by logical id. */
function objectWildcardFinding({ bucket, pattern }: ObjectWildcard): string {
  const stack = Stack.of(bucket);
  const logicalId = stack.resolve(stack.getLogicalId(bucket.node.defaultChild as CfnElement));
  return `AwsSolutions-IAM5[Resource::<${logicalId}.Arn>/${pattern}]`;
}

export interface PipelineFunctionProps {
  /** The workspace binary that is the handler, e.g. `validate`. */
  readonly binaryName: string;
  /** The function's description; absent, `photopipe <binaryName> step`. */
  readonly description?: string;
  /** The function's entry in `contract/functions.json`. */
  readonly contract: FunctionContract;
  /** The function's environment (`RUST_LOG=info` is added). */
  readonly environment: Record<string, string>;
  /** Everything the function may do besides writing its own logs. */
  readonly statements: iam.PolicyStatement[];
  /** The `bucket/prefix*` object ARNs the statements use… */
  readonly objectWildcards: ObjectWildcard[];
  /** …and why the function needs them (recorded with cdk-nag's acknowledgement). */
  readonly reason: string;
  /** Days its log group keeps events: one of CloudWatch Logs' retention periods. */
  readonly logRetentionDays: number;
  /** Its reserved concurrency; absent, it shares the account's unreserved pool. */
  readonly reservedConcurrency?: number;
  /**
   * The checkov checks skipped on the function, with their reasons; absent, a state machine
   * step's (`PIPELINE_FUNCTION_SKIPS`, and `UNRESERVED_CONCURRENCY` without reserved concurrency).
   */
  readonly checkovSkips?: readonly CheckovSkip[];
  /** Its memory in MB; absent, the contract's. */
  readonly memoryMb?: number;
}

/**
 * The function itself is this construct (at `<scope>/<id>`); its log group, role and policy
 * are its siblings `<id>Logs`, `<id>Role` and `<id>Access` in the same scope. That keeps the
 * logical ids the stack had before this construct existed: nesting them under it would
 * replace the roles and the log groups (and lose the logs) on the next deploy.
 */
export class PipelineFunction extends RustFunction {
  /** The workspace binary that is the handler. */
  readonly binaryName: string;
  /** The function's inline policy: its statements plus writing its own log group. */
  readonly access: iam.Policy;
  /** The bundling options it was built with. */
  readonly bundlingOptions: BundlingOptions;

  constructor(scope: Construct, id: string, props: PipelineFunctionProps) {
    const logGroup = new logs.LogGroup(scope, `${id}Logs`, {
      retention: props.logRetentionDays as logs.RetentionDays,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    const role = new iam.Role(scope, `${id}Role`, {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: `photopipe ${props.binaryName} function`,
    });
    const bundling: BundlingOptions = { ...bundlingOptions(props.contract), profile: buildProfile(scope) };
    super(scope, id, {
      manifestPath: WORKSPACE_MANIFEST,
      binaryName: props.binaryName,
      architecture: lambda.Architecture.ARM_64,
      bundling,
      runtime: 'provided.al2023',
      memorySize: props.memoryMb ?? props.contract.memoryMb,
      timeout: Duration.seconds(props.contract.timeoutSeconds),
      environment: { RUST_LOG: 'info', ...props.environment },
      role,
      logGroup,
      loggingFormat: lambda.LoggingFormat.JSON,
      tracing: lambda.Tracing.ACTIVE,
      reservedConcurrentExecutions: props.reservedConcurrency,
      description: props.description ?? `photopipe ${props.binaryName} step`,
    });
    Validations.of(role).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason: 'Active X-Ray tracing: xray:PutTraceSegments and xray:PutTelemetryRecords support no resource-level permissions, so AWS requires *.',
    });
    skipCheckov(logGroup, LOG_GROUP_WITHOUT_KMS);
    skipCheckov(this, ...(props.checkovSkips ?? [...PIPELINE_FUNCTION_SKIPS, ...(props.reservedConcurrency === undefined ? [UNRESERVED_CONCURRENCY] : [])]));
    this.binaryName = props.binaryName;
    this.bundlingOptions = bundling;
    this.access = new iam.Policy(scope, `${id}Access`, { statements: props.statements });
    this.access.addStatements(
      new iam.PolicyStatement({ actions: ['logs:CreateLogStream', 'logs:PutLogEvents'], resources: [logGroup.logGroupArn] }),
    );
    role.attachInlinePolicy(this.access);
    for (const objects of props.objectWildcards) {
      Validations.of(this.access).acknowledge({ id: objectWildcardFinding(objects), reason: props.reason });
    }
  }
}
