/** statemachine/pipeline.asl.json on its own: valid ASL, what the local engines run, and the error handling contract/errors.json states. */
import { readFileSync } from 'node:fs';
import { DEFINITION_FILE } from '../lib/constructs/state-machine';
import { ERRORS, ErrorHandling, FUNCTIONS, FunctionName } from '../lib/contract';
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
    expect(catches).toContainEqual(
      expect.objectContaining({ ErrorEquals: ['Photo.InvalidImage', 'Photo.UnsupportedFormat', 'Photo.KeyTooLong'], Next: 'Quarantine' }),
    );
  }
  expect(states.Quarantine.Next).toBe('Rejected');
  expect(states.Rejected).toMatchObject({ Type: 'Fail', ErrorPath: '$.error.Error', CausePath: '$.error.Cause' });
});

/** A Retry entry, with the defaults Step Functions applies when a field is absent. */
interface Retrier {
  ErrorEquals: string[];
  IntervalSeconds?: number;
  MaxAttempts?: number;
  BackoffRate?: number;
  MaxDelaySeconds?: number;
  JitterStrategy?: 'FULL' | 'NONE';
}

/**
 * The longest a retrier waits in all, between its attempts: the sum over its retries k of
 * min(IntervalSeconds · BackoffRate^k, MaxDelaySeconds). With full jitter each wait is drawn
 * uniformly from 0 to that bound, so the expected total is half of it. The attempts' own run
 * time comes on top.
 */
function retryWindowSeconds({ IntervalSeconds = 1, MaxAttempts = 3, BackoffRate = 2, MaxDelaySeconds = Infinity }: Retrier): number {
  let total = 0;
  for (let k = 0; k < MaxAttempts; k++) total += Math.min(IntervalSeconds * BackoffRate ** k, MaxDelaySeconds);
  return total;
}

const taskEntries = Object.entries(states).filter(([, state]) => state.Type === 'Task');

/** The function a Task invokes, from its `${XxxFunctionArn}` Resource placeholder. */
function taskFunction(state: Record<string, unknown>): FunctionName {
  const match = /^\$\{(\w+)FunctionArn\}$/.exec(String(state.Resource));
  expect(match).not.toBeNull();
  const name = `${match![1][0].toLowerCase()}${match![1].slice(1)}`;
  expect(Object.keys(FUNCTIONS.functions)).toContain(name);
  return name as FunctionName;
}

describe('timeouts and retry budgets', () => {
  test('the retry window arithmetic', () => {
    // 2+4+8+…+256 = 510, then seven retries capped at 300.
    expect(retryWindowSeconds({ ErrorEquals: [], IntervalSeconds: 2, BackoffRate: 2, MaxDelaySeconds: 300, MaxAttempts: 15 })).toBe(2610);
    // Step Functions' defaults: 1 s, ×2, three attempts, no cap.
    expect(retryWindowSeconds({ ErrorEquals: [] })).toBe(7);
    expect(retryWindowSeconds({ ErrorEquals: [], IntervalSeconds: 10, MaxAttempts: 2, BackoffRate: 2 })).toBe(30);
    expect(retryWindowSeconds({ ErrorEquals: [], MaxAttempts: 0 })).toBe(0);
  });

  test('the Tasks map onto the four functions, the Quarantine Task onto cleanup', () => {
    const invoked = Object.fromEntries(taskEntries.map(([name, state]) => [name, taskFunction(state)]));
    expect(invoked).toEqual({ Validate: 'validate', Thumbnail: 'thumbnail', Archive: 'archive', Cleanup: 'cleanup', Quarantine: 'cleanup' });
  });

  test("every Task's TimeoutSeconds outlasts its function's timeout, so the function's own time-out is the one seen", () => {
    expect(taskEntries.length).toBe(5);
    for (const [name, state] of taskEntries) {
      const { timeoutSeconds } = FUNCTIONS.functions[taskFunction(state)];
      expect([name, typeof state.TimeoutSeconds]).toEqual([name, 'number']);
      expect([name, Number.isInteger(state.TimeoutSeconds)]).toEqual([name, true]);
      expect([name, (state.TimeoutSeconds as number) > timeoutSeconds]).toEqual([name, true]);
    }
    // Each function's timeout plus 30 s (archive streams up to 5 GiB to Wasabi and reads it
    // back; cleanup copies a multi-GB quarantine in parts), pinned so a change is a deliberate one.
    expect(Object.fromEntries(taskEntries.map(([name, state]) => [name, state.TimeoutSeconds]))).toEqual({
      Validate: 330,
      Thumbnail: 90,
      Archive: 930,
      Cleanup: 330,
      Quarantine: 330,
    });
    for (const [name, state] of taskEntries) {
      expect([name, state.TimeoutSeconds]).toEqual([name, FUNCTIONS.functions[taskFunction(state)].timeoutSeconds + 30]);
    }
  });

  test('no error is named by two retriers of one Task (only the first that matches ever applies)', () => {
    for (const [name, state] of taskEntries) {
      const named = (state.Retry as Retrier[]).flatMap((r) => r.ErrorEquals);
      expect([name, named.filter((error, i) => named.indexOf(error) !== i)]).toEqual([name, []]);
    }
  });

  test('transient errors: full jitter, expected wait at least 15 minutes, at most 60 minutes in all, on every Task', () => {
    for (const [name, state] of taskEntries) {
      const transient = (state.Retry as Retrier[]).filter((r) => r.ErrorEquals.includes('Photo.Transient'));
      expect([name, transient.length]).toEqual([name, 1]);
      const [retrier] = transient;
      expect([name, retrier.ErrorEquals]).toEqual([name, ['Photo.Transient', ...ERRORS.lambdaServiceErrors]]);
      expect([name, retrier.JitterStrategy]).toEqual([name, 'FULL']);
      const most = retryWindowSeconds(retrier);
      const expected = most / 2;
      expect([name, expected >= 15 * 60]).toEqual([name, true]);
      expect([name, most <= 60 * 60]).toEqual([name, true]);
      expect([name, most, expected]).toEqual([name, 2610, 1305]);
    }
  });
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

  test('the Lambda service errors and the crash errors are distinct lists, neither naming a Photo. error', () => {
    const all = [...ERRORS.lambdaServiceErrors, ...ERRORS.lambdaCrashErrors];
    expect(new Set(all).size).toBe(all.length);
    for (const name of all) expect(name).not.toMatch(/^Photo\./);
    expect(ERRORS.lambdaCrashErrors).toEqual(['Lambda.Unknown', 'Sandbox.Timedout', 'Runtime.ExitError', 'Runtime.OutOfMemory', 'States.Timeout']);
    expect(ERRORS.lambdaServiceErrors).not.toContain('States.ALL');
    expect(ERRORS.lambdaCrashErrors).not.toContain('States.ALL');
  });

  test('every name the ASL retries or catches is a contract error, a Lambda service error or a crash error', () => {
    const known = new Set([...ERRORS.errors.map((e) => e.name), ...ERRORS.lambdaServiceErrors, ...ERRORS.lambdaCrashErrors]);
    const used = Object.values(states).flatMap((state) => [...retried(state), ...catches(state).flatMap((c) => c.ErrorEquals)]);
    expect(used.length).toBeGreaterThan(0);
    // No States.ALL, and no States.* but the crash list's States.Timeout: the ASL names every error it handles.
    expect(used.filter((name) => !known.has(name))).toEqual([]);
    expect([...new Set(used.filter((name) => name.startsWith('States.')))]).toEqual(['States.Timeout']);
  });

  test('crash errors are retried on every Task (10 s, then 20 s: twice) and caught nowhere', () => {
    expect(tasks.length).toBe(5);
    for (const [name, state] of tasks) {
      const crash = (state.Retry as Handler[]).filter((r) => r.ErrorEquals.some((error) => ERRORS.lambdaCrashErrors.includes(error)));
      expect([name, crash]).toEqual([name, [{ ErrorEquals: [...ERRORS.lambdaCrashErrors], IntervalSeconds: 10, MaxAttempts: 2, BackoffRate: 2 }]]);
    }
    const caught = allCatches.flatMap((c) => c.ErrorEquals);
    for (const error of ERRORS.lambdaCrashErrors) expect([error, caught.includes(error)]).toEqual([error, false]);
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

  test('Photo.FolderMarker is caught by Validate alone, into the Succeed state FolderMarkerIgnored', () => {
    expect(named('succeed')).toContain('Photo.FolderMarker');
    const catchers = allCatches.filter((c) => c.ErrorEquals.includes('Photo.FolderMarker'));
    expect(catchers).toEqual([{ state: 'Validate', ErrorEquals: ['Photo.FolderMarker'], ResultPath: '$.error', Next: 'FolderMarkerIgnored' }]);
    expect(states.FolderMarkerIgnored.Type).toBe('Succeed');
  });

  test('Photo.KeyTooLong is a quarantine error, caught into Quarantine by Validate and Thumbnail', () => {
    expect(named('quarantine')).toEqual(['Photo.InvalidImage', 'Photo.UnsupportedFormat', 'Photo.KeyTooLong']);
    const catchers = allCatches.filter((c) => c.ErrorEquals.includes('Photo.KeyTooLong'));
    expect(catchers.map((c) => [c.state, c.Next])).toEqual([
      ['Validate', 'Quarantine'],
      ['Thumbnail', 'Quarantine'],
    ]);
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
