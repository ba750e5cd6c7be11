/**
 * cfn-lint (AWS's CloudFormation linter, pinned in cdk/requirements.txt and installed into the
 * project's .venv by scripts/test) on the synthesized templates: zero errors and warnings, one
 * check skipped:
 *
 * - W3005 (a DependsOn already implied by a GetAtt): CDK adds an explicit DependsOn from each
 *   function and the state machine to its role's policy-bearing role, on purpose, so the
 *   policy exists before the first invocation; harmless, and not ours to remove.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { EVERYTHING, synthTemplate } from './synth';

const SKIPPED = ['W3005'];
const VENV_CFN_LINT = path.join(__dirname, '..', '..', '.venv', 'bin', 'cfn-lint');

function cfnLint(): string | undefined {
  if (existsSync(VENV_CFN_LINT)) return VENV_CFN_LINT;
  return spawnSync('cfn-lint', ['--version']).status === 0 ? 'cfn-lint' : undefined;
}

const linter = cfnLint();
if (linter === undefined && process.env.CI) {
  throw new Error('cfn-lint is not installed: scripts/test installs it into .venv (cdk/requirements.txt)');
}
if (linter === undefined) {
  console.warn('cfn-lint not found (run scripts/test, or pip install -r cdk/requirements.txt into .venv): the template lint is skipped');
}

(linter ? test : test.skip)('cfn-lint finds nothing in the templates, by default and with every optional part', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'photopipe-cfn-lint-'));
  const variants = {
    default: {},
    everything: EVERYTHING,
  };
  const files = Object.entries(variants).map(([name, settings]) => {
    const file = path.join(dir, `${name}.template.json`);
    writeFileSync(file, JSON.stringify(synthTemplate(settings).toJSON(), null, 1));
    return file;
  });
  const run = spawnSync(linter!, ['--ignore-checks', ...SKIPPED, '--', ...files], { encoding: 'utf8' });
  expect(run.error).toBeUndefined();
  expect(`${run.stdout}${run.stderr}`).toBe('');
  expect(run.status).toBe(0);
});
