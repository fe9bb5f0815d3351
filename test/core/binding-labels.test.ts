import {
  bindingPatternProblems,
  compileBindingPattern,
  prefixPatternSource,
  runnerLabels,
  splitBindingLabels,
} from '../../lambda/core/binding-labels';

const bind = compileBindingPattern(prefixPatternSource('bind-'));

test.each<[string, string[], string[], string[]]>([
  [
    'a binding label is left out of routing',
    ['self-hosted', 'linux', 'bind-77-build-0'],
    ['self-hosted', 'linux'],
    ['bind-77-build-0'],
  ],
  [
    'labels compare case-insensitively, as GitHub compares them',
    ['self-hosted', 'BIND-1'],
    ['self-hosted'],
    ['BIND-1'],
  ],
  [
    'a label that only contains the prefix routes',
    ['self-hosted', 'x-bind-1'],
    ['self-hosted', 'x-bind-1'],
    [],
  ],
  ['no binding label: everything routes', ['self-hosted', 'linux'], ['self-hosted', 'linux'], []],
])('%s', (_name, labels, routing, binding) => {
  expect(splitBindingLabels(labels, bind)).toEqual({ routing, binding });
});

test('without a pattern every label routes', () => {
  expect(splitBindingLabels(['self-hosted', 'bind-1'], undefined)).toEqual({
    routing: ['self-hosted', 'bind-1'],
    binding: [],
  });
});

test('a prefix is matched literally', () => {
  const dot = compileBindingPattern(prefixPatternSource('b.'));
  expect(splitBindingLabels(['bx1', 'b.1'], dot).binding).toEqual(['b.1']);
});

test("the runner registers with its config's labels and the job's binding labels", () => {
  expect(runnerLabels(['self-hosted', 'linux'], ['bind-9'])).toEqual(['self-hosted', 'linux', 'bind-9']);
  expect(runnerLabels(['self-hosted', 'bind-9'], ['BIND-9'])).toEqual(['self-hosted', 'bind-9']);
});

test.each<[string, string, string[][], RegExp | undefined]>([
  [
    'a prefix that matches no configured label',
    prefixPatternSource('bind-'),
    [['self-hosted', 'linux']],
    undefined,
  ],
  [
    'a pattern that matches a configured label',
    '^lin',
    [['self-hosted', 'linux']],
    /matches label "linux" of runner config "c0"/,
  ],
  ['an invalid expression', '(', [['self-hosted']], /not a valid regular expression/],
  ['a pattern that matches everything', '.*', [['self-hosted']], /empty label/],
])('validation: %s', (_name, source, configs, problem) => {
  const problems = bindingPatternProblems(
    source,
    configs.map((labels, i) => ({ name: `c${i}`, labels })),
  );
  if (problem) expect(problems.join('\n')).toMatch(problem);
  else expect(problems).toEqual([]);
});
