import { githubApiUrl, loadSettings, parseSecretRef, SettingsError } from '../../lambda/core/settings';

const env = {
  STATE_TABLE_NAME: 't',
  RUNNER_CONFIG_PATH: '/p',
  GITHUB_APP_ID: '1',
  GITHUB_PRIVATE_KEY_REF: 'secretsmanager:arn:aws:secretsmanager:us-east-1:1:secret:k',
  GITHUB_WEBHOOK_SECRET_REF: 'ssm:/w',
  INSTANCE_ARN_PREFIX: 'arn:aws:ec2:us-east-1:1:instance/',
  RUNNER_OWNER_TAG: 'o',
};

describe('settings', () => {
  test('defaults for github.com', () => {
    const s = loadSettings(env);
    expect(s).toMatchObject({
      githubApiUrl: 'https://api.github.com',
      githubHost: 'github.com',
      runnerScope: 'org',
      runnerGroupId: 1,
      deliveryBudgetMs: 8000,
      allowedOwners: [],
      githubPrivateKey: { kind: 'secretsmanager', id: 'arn:aws:secretsmanager:us-east-1:1:secret:k' },
      webhookSecret: { kind: 'ssm', name: '/w' },
    });
  });
  test('GHES API lives under /api/v3 and keys jobs by its host', () => {
    expect(githubApiUrl('https://ghes.example.com/')).toBe('https://ghes.example.com/api/v3');
    expect(loadSettings({ ...env, GITHUB_URL: 'https://ghes.example.com:8443' }).githubHost).toBe(
      'ghes.example.com:8443',
    );
  });
  test('lists are trimmed', () => {
    expect(loadSettings({ ...env, ALLOWED_OWNERS: ' a, b ,,' }).allowedOwners).toEqual(['a', 'b']);
  });
  test('every problem is named at once', () => {
    expect(() => loadSettings({ RUNNER_SCOPE: 'team', DELIVERY_BUDGET_MS: 'soon' })).toThrow(SettingsError);
    try {
      loadSettings({ RUNNER_SCOPE: 'team', DELIVERY_BUDGET_MS: 'soon' });
    } catch (e) {
      const m = (e as Error).message;
      for (const name of [
        'STATE_TABLE_NAME',
        'GITHUB_APP_ID',
        'RUNNER_SCOPE',
        'DELIVERY_BUDGET_MS',
        'GITHUB_PRIVATE_KEY_REF',
      ])
        expect(m).toContain(name);
    }
  });
  test('secret refs', () => {
    expect(() => parseSecretRef('X', 'vault:abc')).toThrow(/secretsmanager:/);
    expect(() => parseSecretRef('X', 'ssm:')).toThrow();
  });
});
