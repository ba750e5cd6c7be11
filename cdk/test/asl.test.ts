/** statemachine/pipeline.asl.json on its own: valid ASL, what the local engines run, and the error handling contract/errors.json states. */
import { readFileSync } from 'node:fs';
import { DEFINITION_FILE } from '../lib/constructs/state-machine';
import { ERRORS, ErrorHandling } from '../lib/contract';
// eslint-disable-next-line @typescript-eslint/no-require-imports
const aslValidator = require('asl-validator');

const definition = JSON.parse(readFileSync(DEFINITION_FILE, 'utf8'));
const states: Record<string, Record<string, unknown>> = definition.States;

test('the ASL is valid', () => {
  const { isValid, errorsText } = aslValidator(definition);
  expect(errorsText('\n')).toBe('');
  expect(isValid).toBe(true);
});

test('uses only plain Lambda-ARN tasks and JSONPath (what the local engines run)', () => {
  expect(definition.QueryLanguage ?? 'JSONPath').toBe('JSONPath');
  for (const state of Object.values(states)) {
    if (state.Type === 'Task') {
      expect(state.Resource).toMatch(/^\$\{\w+FunctionArn\}$/);
    }
  }
});

test('transient errors are retried on every task and never caught', () => {
  for (const [name, state] of Object.entries(states)) {
    if (state.Type !== 'Task') continue;
    const retry = state.Retry as { ErrorEquals: string[] }[];
    const retried = retry.flatMap((r) => r.ErrorEquals);
    expect([name, retried]).toEqual([name, expect.arrayContaining(['Photo.Transient', 'Lambda.ServiceException', 'Lambda.TooManyRequestsException'])]);
    const caught = ((state.Catch as { ErrorEquals: string[] }[]) ?? []).flatMap((c) => c.ErrorEquals);
    expect(caught).not.toContain('Photo.Transient');
    expect(caught).not.toContain('States.ALL');
  }
});

test('bad input is quarantined before the run fails with its own error name', () => {
  for (const name of ['Validate', 'Thumbnail']) {
    const catches = states[name].Catch as { ErrorEquals: string[]; Next: string }[];
    expect(catches).toContainEqual(expect.objectContaining({ ErrorEquals: ['Photo.InvalidImage', 'Photo.UnsupportedFormat'], Next: 'Quarantine' }));
  }
  expect(states.Quarantine.Next).toBe('Rejected');
  expect(states.Rejected).toMatchObject({ Type: 'Fail', ErrorPath: '$.error.Error', CausePath: '$.error.Cause' });
});

describe('error names and their handling, as contract/errors.json says', () => {
  interface Handler {
    ErrorEquals: string[];
    Next?: string;
  }
  const tasks = Object.entries(states).filter(([, state]) => state.Type === 'Task');
  const retried = (state: Record<string, unknown>) => ((state.Retry as Handler[]) ?? []).flatMap((r) => r.ErrorEquals);
  const catches = (state: Record<string, unknown>) => (state.Catch as Handler[]) ?? [];
  const allCatches = Object.entries(states).flatMap(([name, state]) => catches(state).map((c) => ({ state: name, ...c })));
  const named = (handling: ErrorHandling) => ERRORS.errors.filter((e) => e.handling === handling).map((e) => e.name);

  test('the contract names each error once, under Photo., with a known handling', () => {
    const names = ERRORS.errors.map((e) => e.name);
    expect(new Set(names).size).toBe(names.length);
    for (const name of names) expect(name).toMatch(/^Photo\.\w+$/);
    for (const { handling } of ERRORS.errors) expect(['quarantine', 'succeed', 'retry', 'fail']).toContain(handling);
    for (const handling of ['quarantine', 'succeed', 'retry', 'fail'] as const) expect([handling, named(handling).length]).not.toEqual([handling, 0]);
  });

  test('every name the ASL retries or catches is a contract error or a Lambda service error', () => {
    const known = new Set([...ERRORS.errors.map((e) => e.name), ...ERRORS.lambdaServiceErrors]);
    const used = Object.values(states).flatMap((state) => [...retried(state), ...catches(state).flatMap((c) => c.ErrorEquals)]);
    expect(used.length).toBeGreaterThan(0);
    // No States.ALL or other States.* either: the ASL names every error it handles.
    expect(used.filter((name) => !known.has(name))).toEqual([]);
  });

  test('quarantine errors are caught into Quarantine by Validate and Thumbnail, and nothing else is', () => {
    expect(states.Quarantine?.Type).toBe('Task');
    for (const name of ['Validate', 'Thumbnail']) {
      const intoQuarantine = catches(states[name]).filter((c) => c.Next === 'Quarantine').flatMap((c) => c.ErrorEquals);
      expect([name, intoQuarantine]).toEqual([name, expect.arrayContaining(named('quarantine'))]);
    }
    for (const c of allCatches) {
      const quarantined = c.ErrorEquals.map((error) => named('quarantine').includes(error));
      if (c.Next === 'Quarantine' || quarantined.includes(true)) {
        expect([c.state, c.ErrorEquals, c.Next]).toEqual([c.state, c.ErrorEquals.filter((error) => named('quarantine').includes(error)), 'Quarantine']);
      }
    }
  });

  test('succeed errors are caught, always into a Succeed state', () => {
    for (const error of named('succeed')) {
      const catchers = allCatches.filter((c) => c.ErrorEquals.includes(error));
      expect([error, catchers.map((c) => c.state)]).toEqual([error, expect.arrayContaining(['Validate'])]);
      for (const c of catchers) expect([error, c.state, states[c.Next!]?.Type]).toEqual([error, c.state, 'Succeed']);
    }
  });

  test('retry errors and the Lambda service errors are retried on every Task and never caught', () => {
    expect(tasks.length).toBeGreaterThan(0);
    for (const [name, state] of tasks) {
      expect([name, retried(state)]).toEqual([name, expect.arrayContaining([...named('retry'), ...ERRORS.lambdaServiceErrors])]);
    }
    const caught = allCatches.flatMap((c) => c.ErrorEquals);
    for (const error of [...named('retry'), ...ERRORS.lambdaServiceErrors]) expect(caught).not.toContain(error);
  });

  test('fail errors (Photo.Internal among them) appear in no Catch', () => {
    expect(named('fail')).toContain('Photo.Internal');
    const caught = allCatches.flatMap((c) => c.ErrorEquals);
    for (const error of named('fail')) expect([error, caught.includes(error)]).toEqual([error, false]);
  });
});
