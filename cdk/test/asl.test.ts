import { readFileSync } from 'node:fs';
import { DEFINITION_FILE } from '../lib/constructs/state-machine';
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
