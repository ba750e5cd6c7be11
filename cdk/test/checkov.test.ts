/**
 * checkov (Bridgecrew's IaC scanner, pinned in cdk/checkov-requirements.txt and installed by
 * scripts/test into .venv-checkov, a venv of its own because checkov pins an old boto3 that
 * moto must not get) on the synthesized templates, offline (`--skip-download`): zero failed
 * checks. A check that does not fit a resource is skipped on that resource alone, with its
 * reason, through `skipCheckov` (cdk/lib/checkov.ts); nothing is skipped globally.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { EVERYTHING, synthTemplate } from './synth';

const VENV_CHECKOV = path.join(__dirname, '..', '..', '.venv-checkov', 'bin', 'checkov');
const found = existsSync(VENV_CHECKOV);
if (!found && process.env.CI) {
  throw new Error('checkov is not installed: scripts/test installs it into .venv-checkov (cdk/checkov-requirements.txt)');
}
if (!found) {
  console.warn('checkov not found (run scripts/test, which installs it into .venv-checkov): the template scan is skipped');
}

/** The default stack and one with every optional part. */
const VARIANTS: Record<string, Record<string, unknown>> = {
  default: {},
  everything: EVERYTHING,
};

interface CheckovFinding {
  check_id: string;
  check_name: string;
  resource: string;
}

interface CheckovReport {
  summary: { passed: number; failed: number; skipped: number; parsing_errors: number };
  results: { failed_checks: CheckovFinding[]; skipped_checks: (CheckovFinding & { check_result: { suppress_comment?: string } })[] };
}

describe.each(Object.entries(VARIANTS))('checkov on the %s template', (name, settings) => {
  let report: CheckovReport;
  beforeAll(() => {
    if (!found) return;
    const dir = mkdtempSync(path.join(tmpdir(), 'photopipe-checkov-'));
    const file = path.join(dir, `${name}.template.json`);
    writeFileSync(file, JSON.stringify(synthTemplate(settings).toJSON(), null, 1));
    const run = spawnSync(VENV_CHECKOV, ['--skip-download', '--framework', 'cloudformation', '--output', 'json', '--file', file], {
      encoding: 'utf8',
      // The JSON lists every passed check too: a few MB.
      maxBuffer: 256 * 1024 * 1024,
    });
    expect(run.error).toBeUndefined();
    report = JSON.parse(run.stdout) as CheckovReport;
  }, 120_000);

  (found ? test : test.skip)('finds no failed check and parses everything', () => {
    const failed = report.results.failed_checks.map((f) => `${f.check_id} ${f.resource}: ${f.check_name}`);
    expect(failed).toEqual([]);
    expect(report.summary.parsing_errors).toBe(0);
    expect(report.summary.passed).toBeGreaterThan(150);
  });

  (found ? test : test.skip)('skips a check only with a reason', () => {
    const unexplained = report.results.skipped_checks.filter((s) => (s.check_result.suppress_comment ?? '').length < 40);
    expect(unexplained.map((s) => `${s.check_id} ${s.resource}`)).toEqual([]);
  });
});
