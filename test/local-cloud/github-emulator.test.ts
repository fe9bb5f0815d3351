// Drives the GitHub emulator with the real Octokit (`@octokit/rest` + `createAppAuth`), so what
// passes here is what our GitHub adapter will meet: GitHub's statuses, bodies and headers. This
// file covers runners, installations, deliveries and GHES; ./github-emulator/auth.test.ts and
// ./github-emulator/faults.test.ts cover authentication and fault injection.
import { createAppAuth } from '@octokit/auth-app';
import { Octokit } from '@octokit/rest';
import { randomUUID } from 'node:crypto';
import { GitHubEmulator, JIT_SECRET_MARKER } from './github-emulator';
import {
  APP_ID,
  failure,
  NARROW_INSTALLATION,
  ORG_INSTALLATION,
  quietLog,
  useGitHubFixture,
} from './github-emulator/fixture';

const decodeB64Json = (s: string): Record<string, string> =>
  JSON.parse(Buffer.from(s, 'base64').toString('utf8'));

describe('GitHubEmulator, github.com style', () => {
  const fx = useGitHubFixture();

  it('generates a repository JIT config through createAppAuth, with GitHub shapes and a findable secret', async () => {
    const octokit = fx.appOctokit(ORG_INSTALLATION);
    const secretsBefore = fx.emu.issuedTokens.length;
    const labels = ['self-hosted', 'linux', 'x64', 'gpu'];
    const res = await octokit.rest.actions.generateRunnerJitconfigForRepo({
      owner: 'octo-org',
      repo: 'app',
      name: 'runner-1',
      runner_group_id: 1,
      labels,
    });

    expect(res.status).toBe(201);
    expect(res.data.runner).toMatchObject({
      name: 'runner-1',
      os: 'unknown',
      status: 'offline',
      busy: false,
    });
    expect(res.data.runner.labels.map((l) => [l.name, l.type])).toEqual([
      ['self-hosted', 'read-only'],
      ['linux', 'read-only'],
      ['x64', 'read-only'],
      ['gpu', 'custom'],
    ]);
    const files = decodeB64Json(res.data.encoded_jit_config);
    expect(decodeB64Json(files['.runner'])).toMatchObject({ AgentName: 'runner-1', WorkFolder: '_work' });
    expect(Buffer.from(files['.credentials'], 'base64').toString()).toContain(JIT_SECRET_MARKER);
    expect(fx.emu.runners()).toEqual([
      expect.objectContaining({ id: res.data.runner.id, scope: 'octo-org/app', scopeKind: 'repo', labels }),
    ]);
    expect(fx.emu.calls.map((c) => [c.route, c.status, c.credential])).toEqual([
      ['createInstallationToken', 201, 'jwt'],
      ['generateJitConfigRepo', 201, 'token'],
    ]);
    // Exactly two secrets handed out: the installation token and the JIT config.
    expect(fx.emu.issuedTokens.slice(secretsBefore)).toEqual([
      expect.stringMatching(/^ghs_/),
      res.data.encoded_jit_config,
    ]);
  });

  it('generates an organization JIT config in a named runner group and work folder; unknown group is 404', async () => {
    fx.emu.addRunnerGroup('octo-org', 7);
    const octokit = fx.appOctokit(ORG_INSTALLATION);
    const res = await octokit.rest.actions.generateRunnerJitconfigForOrg({
      org: 'octo-org',
      name: 'org-runner-1',
      runner_group_id: 7,
      labels: ['self-hosted', 'linux'],
      work_folder: 'jobs',
    });
    expect(res.status).toBe(201);
    expect(res.data.runner.runner_group_id).toBe(7);
    const runnerFile = decodeB64Json(decodeB64Json(res.data.encoded_jit_config)['.runner']);
    expect(runnerFile).toMatchObject({ WorkFolder: 'jobs', PoolId: '7' });
    expect(fx.emu.runners().find((r) => r.id === res.data.runner.id)).toMatchObject({
      scope: 'octo-org',
      scopeKind: 'org',
    });

    const missingGroup = await failure(
      octokit.rest.actions.generateRunnerJitconfigForOrg({
        org: 'octo-org',
        name: 'x',
        runner_group_id: 99,
        labels: ['a'],
      }),
    );
    expect(missingGroup.status).toBe(404);
  });

  it('answers 409 for a name already registered in the scope (case-insensitively), not in another scope', async () => {
    const octokit = fx.appOctokit(ORG_INSTALLATION);
    const jit = (name: string) =>
      octokit.rest.actions.generateRunnerJitconfigForRepo({
        owner: 'octo-org',
        repo: 'dup',
        name,
        runner_group_id: 1,
        labels: ['self-hosted'],
      });
    await jit('dup-1');
    const conflict = await failure(jit('DUP-1'));
    expect(conflict.status).toBe(409);
    expect(conflict.response.data.message).toBe(
      'Already exists - A runner with the name DUP-1 already exists.',
    );
    const otherScope = await octokit.rest.actions.generateRunnerJitconfigForRepo({
      owner: 'octo-org',
      repo: 'other',
      name: 'dup-1',
      runner_group_id: 1,
      labels: ['self-hosted'],
    });
    expect(otherScope.status).toBe(201);
  });

  it('answers 422 without runner_group_id or with 0 or 101 labels, registering nothing', async () => {
    const octokit = fx.appOctokit(ORG_INSTALLATION);
    const route = 'POST /repos/{owner}/{repo}/actions/runners/generate-jitconfig';
    const base = { owner: 'octo-org', repo: 'v', name: 'v-1' };
    const before = fx.emu.runners().length;

    const noGroup = await failure(octokit.request(route, { ...base, labels: ['a'] } as never));
    expect(noGroup.status).toBe(422);
    expect(noGroup.response.data.message).toMatch(/missing required key: runner_group_id/);
    const noLabels = await failure(octokit.request(route, { ...base, runner_group_id: 1, labels: [] }));
    expect(noLabels.status).toBe(422);
    const tooMany = Array.from({ length: 101 }, (_, i) => `l${i}`);
    expect(
      (await failure(octokit.request(route, { ...base, runner_group_id: 1, labels: tooMany }))).status,
    ).toBe(422);
    expect(fx.emu.runners()).toHaveLength(before);
  });

  it('keeps a token inside its installation: 404 for uncovered repos, 403 for other orgs or missing permission', async () => {
    const narrow = fx.appOctokit(NARROW_INSTALLATION);
    const repoJit = (owner: string, repo: string) =>
      narrow.rest.actions.generateRunnerJitconfigForRepo({
        owner,
        repo,
        name: randomUUID(),
        runner_group_id: 1,
        labels: ['a'],
      });
    expect((await repoJit('narrow-org', 'app')).status).toBe(201);
    expect((await failure(repoJit('narrow-org', 'other'))).status).toBe(404);
    expect((await failure(repoJit('octo-org', 'app'))).status).toBe(404);

    const orgJit = (org: string) =>
      narrow.rest.actions.generateRunnerJitconfigForOrg({
        org,
        name: randomUUID(),
        runner_group_id: 1,
        labels: ['a'],
      });
    const noPermission = await failure(orgJit('narrow-org'));
    expect(noPermission.status).toBe(403);
    expect(noPermission.response.data.message).toBe('Resource not accessible by integration');
    expect(noPermission.response.headers['x-accepted-github-permissions']).toBe(
      'organization_self_hosted_runners=write',
    );
    expect((await failure(orgJit('octo-org'))).status).toBe(403);
  });

  it('finds installations by repository and organization with the app JWT', async () => {
    const app = fx.appOctokit();
    expect((await app.rest.apps.getRepoInstallation({ owner: 'OCTO-ORG', repo: 'anything' })).data.id).toBe(
      ORG_INSTALLATION,
    );
    expect((await app.rest.apps.getOrgInstallation({ org: 'narrow-org' })).data).toMatchObject({
      id: NARROW_INSTALLATION,
      repository_selection: 'selected',
    });
    expect(
      (await failure(app.rest.apps.getRepoInstallation({ owner: 'narrow-org', repo: 'other' }))).status,
    ).toBe(404);
    expect((await failure(app.rest.apps.getOrgInstallation({ org: 'nobody' }))).status).toBe(404);
    expect(fx.emu.calls.every((c) => c.credential === 'jwt')).toBe(true);
  });

  it('lists runners with paging and a name filter, gets one, and deletes unless busy', async () => {
    const octokit = fx.appOctokit(ORG_INSTALLATION);
    const scope = { owner: 'octo-org', repo: 'pager' };
    const ids: number[] = [];
    for (const name of ['p-1', 'p-2', 'p-3']) {
      const res = await octokit.rest.actions.generateRunnerJitconfigForRepo({
        ...scope,
        name,
        runner_group_id: 1,
        labels: ['a'],
      });
      ids.push(res.data.runner.id);
    }
    const page1 = await octokit.rest.actions.listSelfHostedRunnersForRepo({ ...scope, per_page: 2 });
    expect(page1.data.total_count).toBe(3);
    expect(page1.data.runners).toHaveLength(2);
    expect(page1.headers.link).toContain('rel="next"');
    const all = await octokit.paginate(octokit.rest.actions.listSelfHostedRunnersForRepo, {
      ...scope,
      per_page: 2,
    });
    expect(all.map((r) => r.name)).toEqual(['p-1', 'p-2', 'p-3']);
    const filtered = await octokit.rest.actions.listSelfHostedRunnersForRepo({ ...scope, name: 'p-2' });
    expect(filtered.data.runners.map((r) => r.id)).toEqual([ids[1]]);
    expect(
      (await octokit.rest.actions.getSelfHostedRunnerForRepo({ ...scope, runner_id: ids[0] })).data.name,
    ).toBe('p-1');

    fx.emu.setRunnerState(ids[0], { status: 'online', busy: true });
    const busy = await failure(
      octokit.rest.actions.deleteSelfHostedRunnerFromRepo({ ...scope, runner_id: ids[0] }),
    );
    expect(busy.status).toBe(422);
    fx.emu.setRunnerState(ids[0], { busy: false });
    expect(
      (await octokit.rest.actions.deleteSelfHostedRunnerFromRepo({ ...scope, runner_id: ids[0] })).status,
    ).toBe(204);
    const gone = await failure(
      octokit.rest.actions.deleteSelfHostedRunnerFromRepo({ ...scope, runner_id: ids[0] }),
    );
    expect(gone.status).toBe(404);
    expect(fx.emu.runners().map((r) => r.id)).not.toContain(ids[0]);
  });

  it('pages app webhook deliveries by cursor, filters by status, and redelivers with 202', async () => {
    const codes = [200, 502, 200, 500, 200];
    const ids = codes.map((status_code, i) =>
      fx.emu.addDelivery({
        appId: APP_ID,
        guid: `g-${i}`,
        event: 'workflow_job',
        action: 'queued',
        status_code,
      }),
    );
    const app = fx.appOctokit();
    const page1 = await app.rest.apps.listWebhookDeliveries({ per_page: 2 });
    expect(page1.data.map((d) => d.id)).toEqual([ids[4], ids[3]]);
    expect(page1.headers.link).toMatch(/cursor=v1_\d+>; rel="next"/);
    const all = await app.paginate(app.rest.apps.listWebhookDeliveries, { per_page: 2 });
    expect(all.map((d) => d.guid)).toEqual(['g-4', 'g-3', 'g-2', 'g-1', 'g-0']);
    const failed = await app.request('GET /app/hook/deliveries', { status: 'failure' });
    expect(failed.data.map((d) => d.status_code)).toEqual([500, 502]);

    const received: unknown[] = [];
    fx.emu.setRedeliveryHandler((d) => {
      received.push(d.guid);
      return 200;
    });
    const res = await app.rest.apps.redeliverWebhookDelivery({ delivery_id: ids[1] });
    expect(res.status).toBe(202);
    await fx.emu.whenIdle();
    expect(received).toEqual(['g-1']);
    const [newest] = (await app.rest.apps.listWebhookDeliveries({ per_page: 1 })).data;
    expect(newest).toMatchObject({ guid: 'g-1', redelivery: true, status_code: 200 });

    expect((await failure(app.rest.apps.redeliverWebhookDelivery({ delivery_id: 999999 }))).status).toBe(404);
    const old = fx.emu.addDelivery({
      event: 'workflow_job',
      status_code: 502,
      delivered_at: new Date(Date.now() - 4 * 86400_000).toISOString(),
    });
    expect((await failure(app.rest.apps.redeliverWebhookDelivery({ delivery_id: old }))).status).toBe(422);
  });
});

describe('GitHubEmulator, GHES style', () => {
  let emu: GitHubEmulator;
  let privateKey: string;

  beforeAll(async () => {
    emu = await GitHubEmulator.start({ ghes: true, ghesVersion: '3.16.2', tokenTtlSeconds: 60 });
    ({ privateKeyPem: privateKey } = emu.registerApp(7));
    emu.addInstallation({ id: 70, appId: 7, account: 'ent-org' });
  });
  afterAll(() => emu.stop());

  it('serves the API under /api/v3 only, with GHES docs links and version header', async () => {
    expect(emu.apiUrl).toBe(`${emu.webUrl}/api/v3`);
    const octokit = new Octokit({
      baseUrl: emu.apiUrl,
      authStrategy: createAppAuth,
      auth: { appId: 7, privateKey, installationId: 70 },
      log: quietLog,
    });
    const res = await octokit.rest.actions.generateRunnerJitconfigForOrg({
      org: 'ent-org',
      name: 'ghes-1',
      runner_group_id: 1,
      labels: ['self-hosted'],
    });
    expect(res.status).toBe(201);
    expect(res.headers['x-github-enterprise-version']).toBe('3.16.2');
    const { expiresAt } = (await octokit.auth({ type: 'installation' })) as { expiresAt: string };
    expect(Date.parse(expiresAt) - Date.now()).toBeLessThanOrEqual(60_000);

    const conflict = await failure(
      octokit.rest.actions.generateRunnerJitconfigForOrg({
        org: 'ent-org',
        name: 'ghes-1',
        runner_group_id: 1,
        labels: ['a'],
      }),
    );
    expect(conflict.status).toBe(409);
    expect(conflict.response.data.documentation_url).toMatch(
      /^https:\/\/docs\.github\.com\/enterprise-server@3\.16\/rest\//,
    );

    expect((await fetch(`${emu.webUrl}/orgs/ent-org/actions/runners`)).status).toBe(404);
    expect(emu.calls.map((c) => c.path)).toContain('/orgs/ent-org/actions/runners/generate-jitconfig');
  });
});
