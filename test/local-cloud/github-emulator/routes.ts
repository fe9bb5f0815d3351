// The REST operations the emulator serves, as data: method, path template, how the caller must
// authenticate, and which GitHub App permission the operation needs. Keeping this a table (rather
// than a chain of ifs) lets fault injection, the call log and auth checks share one name per route.

/** Names of the REST operations the emulator serves; used for fault injection and the call log. */
export type RouteName =
  | 'getApp'
  | 'createInstallationToken'
  | 'revokeInstallationToken'
  | 'getRepoInstallation'
  | 'getOrgInstallation'
  | 'generateJitConfigRepo'
  | 'generateJitConfigOrg'
  | 'listRunnersRepo'
  | 'listRunnersOrg'
  | 'getRunnerRepo'
  | 'getRunnerOrg'
  | 'deleteRunnerRepo'
  | 'deleteRunnerOrg'
  | 'listDeliveries'
  | 'redeliver'
  | 'getJob'
  | 'getRun'
  | 'listJobsForRunAttempt'
  | 'rerunFailedJobs'
  | 'rerunJob';

/** How a route authenticates its caller: the app's JWT, or an installation access token. */
export type AuthKind = 'jwt' | 'installation';

/** A GitHub App permission a route needs (the `x-accepted-github-permissions` GitHub reports). */
export interface RequiredPermission {
  /** Permission name as in the installation's `permissions` object, e.g. `administration`. */
  readonly name: string;
  /** `write` implies `read`. */
  readonly level: 'read' | 'write';
}

/** One served operation. */
export interface RouteSpec {
  /** Stable name for fault injection and the call log. */
  readonly name: RouteName;
  /** HTTP method. */
  readonly method: 'GET' | 'POST' | 'DELETE';
  /** Path template relative to the API root, with `{param}` placeholders. */
  readonly template: string;
  /** Credential the route accepts. */
  readonly auth: AuthKind;
  /** Permission an installation token needs; absent for JWT routes. */
  readonly permission?: RequiredPermission;
  /** Path of the route's page on docs.github.com, used as `documentation_url` in errors. */
  readonly docPath: string;
}

const repoAdmin = (level: 'read' | 'write'): RequiredPermission => ({ name: 'administration', level });
const orgRunners = (level: 'read' | 'write'): RequiredPermission => ({
  name: 'organization_self_hosted_runners',
  level,
});
const RUNNERS_DOC = '/rest/actions/self-hosted-runners';
// The GitHub App permission GitHub names "Actions"; `x-accepted-github-permissions: actions=read`.
const actions = (level: 'read' | 'write'): RequiredPermission => ({ name: 'actions', level });

/** Every route the emulator serves. Anything else answers 404, as GitHub does. */
export const ROUTES: readonly RouteSpec[] = [
  {
    name: 'getApp',
    method: 'GET',
    template: '/app',
    auth: 'jwt',
    docPath: '/rest/apps/apps#get-the-authenticated-app',
  },
  {
    name: 'createInstallationToken',
    method: 'POST',
    template: '/app/installations/{installation_id}/access_tokens',
    auth: 'jwt',
    docPath: '/rest/apps/apps#create-an-installation-access-token-for-an-app',
  },
  {
    name: 'revokeInstallationToken',
    method: 'DELETE',
    template: '/installation/token',
    auth: 'installation',
    docPath: '/rest/apps/installations#revoke-an-installation-access-token',
  },
  {
    name: 'getRepoInstallation',
    method: 'GET',
    template: '/repos/{owner}/{repo}/installation',
    auth: 'jwt',
    docPath: '/rest/apps/apps#get-a-repository-installation-for-the-authenticated-app',
  },
  {
    name: 'getOrgInstallation',
    method: 'GET',
    template: '/orgs/{org}/installation',
    auth: 'jwt',
    docPath: '/rest/apps/apps#get-an-organization-installation-for-the-authenticated-app',
  },
  {
    name: 'generateJitConfigRepo',
    method: 'POST',
    template: '/repos/{owner}/{repo}/actions/runners/generate-jitconfig',
    auth: 'installation',
    permission: repoAdmin('write'),
    docPath: `${RUNNERS_DOC}#create-configuration-for-a-just-in-time-runner-for-a-repository`,
  },
  {
    name: 'generateJitConfigOrg',
    method: 'POST',
    template: '/orgs/{org}/actions/runners/generate-jitconfig',
    auth: 'installation',
    permission: orgRunners('write'),
    docPath: `${RUNNERS_DOC}#create-configuration-for-a-just-in-time-runner-for-an-organization`,
  },
  {
    name: 'listRunnersRepo',
    method: 'GET',
    template: '/repos/{owner}/{repo}/actions/runners',
    auth: 'installation',
    permission: repoAdmin('read'),
    docPath: `${RUNNERS_DOC}#list-self-hosted-runners-for-a-repository`,
  },
  {
    name: 'listRunnersOrg',
    method: 'GET',
    template: '/orgs/{org}/actions/runners',
    auth: 'installation',
    permission: orgRunners('read'),
    docPath: `${RUNNERS_DOC}#list-self-hosted-runners-for-an-organization`,
  },
  {
    name: 'getRunnerRepo',
    method: 'GET',
    template: '/repos/{owner}/{repo}/actions/runners/{runner_id}',
    auth: 'installation',
    permission: repoAdmin('read'),
    docPath: `${RUNNERS_DOC}#get-a-self-hosted-runner-for-a-repository`,
  },
  {
    name: 'getRunnerOrg',
    method: 'GET',
    template: '/orgs/{org}/actions/runners/{runner_id}',
    auth: 'installation',
    permission: orgRunners('read'),
    docPath: `${RUNNERS_DOC}#get-a-self-hosted-runner-for-an-organization`,
  },
  {
    name: 'deleteRunnerRepo',
    method: 'DELETE',
    template: '/repos/{owner}/{repo}/actions/runners/{runner_id}',
    auth: 'installation',
    permission: repoAdmin('write'),
    docPath: `${RUNNERS_DOC}#delete-a-self-hosted-runner-from-a-repository`,
  },
  {
    name: 'deleteRunnerOrg',
    method: 'DELETE',
    template: '/orgs/{org}/actions/runners/{runner_id}',
    auth: 'installation',
    permission: orgRunners('write'),
    docPath: `${RUNNERS_DOC}#delete-a-self-hosted-runner-from-an-organization`,
  },
  {
    name: 'listDeliveries',
    method: 'GET',
    template: '/app/hook/deliveries',
    auth: 'jwt',
    docPath: '/rest/apps/webhooks#list-deliveries-for-an-app-webhook',
  },
  {
    name: 'redeliver',
    method: 'POST',
    template: '/app/hook/deliveries/{delivery_id}/attempts',
    auth: 'jwt',
    docPath: '/rest/apps/webhooks#redeliver-a-delivery-for-an-app-webhook',
  },
  {
    name: 'getJob',
    method: 'GET',
    template: '/repos/{owner}/{repo}/actions/jobs/{job_id}',
    auth: 'installation',
    permission: actions('read'),
    docPath: '/rest/actions/workflow-jobs#get-a-job-for-a-workflow-run',
  },
  {
    name: 'getRun',
    method: 'GET',
    template: '/repos/{owner}/{repo}/actions/runs/{run_id}',
    auth: 'installation',
    permission: actions('read'),
    docPath: '/rest/actions/workflow-runs#get-a-workflow-run',
  },
  {
    name: 'listJobsForRunAttempt',
    method: 'GET',
    template: '/repos/{owner}/{repo}/actions/runs/{run_id}/attempts/{attempt_number}/jobs',
    auth: 'installation',
    permission: actions('read'),
    docPath: '/rest/actions/workflow-jobs#list-jobs-for-a-workflow-run-attempt',
  },
  {
    name: 'rerunFailedJobs',
    method: 'POST',
    template: '/repos/{owner}/{repo}/actions/runs/{run_id}/rerun-failed-jobs',
    auth: 'installation',
    permission: actions('write'),
    docPath: '/rest/actions/workflow-runs#re-run-failed-jobs-from-a-workflow-run',
  },
  {
    name: 'rerunJob',
    method: 'POST',
    template: '/repos/{owner}/{repo}/actions/jobs/{job_id}/rerun',
    auth: 'installation',
    permission: actions('write'),
    docPath: '/rest/actions/workflow-runs#re-run-a-job-from-a-workflow-run',
  },
];

/** A route matched against a request, with its decoded path parameters. */
export interface RouteMatch {
  /** The matched route. */
  readonly spec: RouteSpec;
  /** Path parameters by placeholder name. */
  readonly params: Readonly<Record<string, string>>;
}

// Numeric ids only match digits, so `.../runners/generate-jitconfig` can never be taken for
// `.../runners/{runner_id}` with a different method.
const NUMERIC_PARAMS = new Set([
  'installation_id',
  'runner_id',
  'delivery_id',
  'job_id',
  'run_id',
  'attempt_number',
]);

const COMPILED = ROUTES.map((spec) => {
  const names: string[] = [];
  const source = spec.template.replace(/\{(\w+)\}/g, (_m, name: string) => {
    names.push(name);
    return NUMERIC_PARAMS.has(name) ? '(\\d+)' : '([^/]+)';
  });
  return { spec, names, regex: new RegExp(`^${source}/?$`) };
});

/** Finds the route for a method and an API-relative path, or `undefined` (GitHub answers 404). */
export function matchRoute(method: string, path: string): RouteMatch | undefined {
  for (const { spec, names, regex } of COMPILED) {
    if (spec.method !== method) continue;
    const m = regex.exec(path);
    if (!m) continue;
    const params: Record<string, string> = {};
    names.forEach((name, i) => (params[name] = decodeURIComponent(m[i + 1])));
    return { spec, params };
  }
  return undefined;
}
