import { isAllowed } from '../../lambda/core/allowlist';

describe('isAllowed', () => {
  test('no entries: every repository of the installations', () => {
    expect(isAllowed({ owners: [], repositories: [] }, 'any/repo')).toBe(true);
  });
  test.each([
    [{ owners: ['acme'], repositories: [] }, 'acme/app', true],
    [{ owners: ['acme'], repositories: [] }, 'ACME/App', true],
    [{ owners: ['acme'], repositories: [] }, 'acme-evil/app', false],
    [{ owners: ['acme'], repositories: [] }, 'other/acme', false],
    [{ owners: [], repositories: ['acme/app'] }, 'acme/app', true],
    [{ owners: [], repositories: ['acme/app'] }, 'acme/app2', false],
    [{ owners: [], repositories: ['acme/app'] }, 'acme/ap', false],
    [{ owners: ['other'], repositories: ['acme/app'] }, 'other/x', true],
  ])('%j allows %s: %s', (list, repo, expected) => {
    expect(isAllowed(list, repo)).toBe(expected);
  });
});
