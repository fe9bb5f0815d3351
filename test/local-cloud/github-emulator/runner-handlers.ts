// Handlers for the self-hosted runner routes, at repository and organization scope: JIT config
// generation, listing, reading and deleting registrations. The caller's installation has already
// been checked to reach the scope and to hold the route's permission.
import { randomBytes, randomUUID } from 'node:crypto';
import { bodyObject, HttpError, linkHeader, paging } from './http';
import type { Handler, HandlerContext } from './http';
import type { RouteName } from './routes';
import { runnerGroupName, scopeKey, type EmulatedRunner, type RunnerScopeKind } from './state';

/** Marker at the start of every emulated JIT secret, so tests can grep logs for any of them. */
export const JIT_SECRET_MARKER = 'EMULATED-JIT-SECRET';

// Labels the runner applies by itself when configured classically; GitHub reports them read-only.
const READ_ONLY_LABELS = new Set(['self-hosted', 'linux', 'windows', 'macos', 'x64', 'x86', 'arm', 'arm64']);

function scopeOf(ctx: HandlerContext): { kind: RunnerScopeKind; scope: string } {
  return ctx.params.org !== undefined
    ? { kind: 'org', scope: ctx.params.org }
    : { kind: 'repo', scope: `${ctx.params.owner}/${ctx.params.repo}` };
}

/** A runner as GitHub's REST API returns it. */
export function runnerJson(ctx: HandlerContext, r: EmulatedRunner): Record<string, unknown> {
  return {
    id: r.id,
    name: r.name,
    // The OS is only known once the runner connects; a fresh JIT registration reports `unknown`.
    os: r.status === 'online' || r.busy ? 'linux' : 'unknown',
    status: r.status,
    busy: r.busy,
    ephemeral: true,
    runner_group_id: r.runnerGroupId,
    labels: r.labels.map((name) => ({
      id: ctx.state.labelId(name),
      name,
      type: READ_ONLY_LABELS.has(name.toLowerCase()) ? 'read-only' : 'custom',
    })),
  };
}

const b64json = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64');

/**
 * Builds an `encoded_jit_config` shaped like GitHub's (base64 of a JSON map of the runner's
 * `.runner`, `.credentials` and `.credentials_rsaparams` files, each base64 JSON), carrying a
 * unique {@link JIT_SECRET_MARKER} value so a leak is recognizable even after decoding.
 */
function encodeJitConfig(
  ctx: HandlerContext,
  id: number,
  name: string,
  groupId: number,
  scope: string,
  workFolder: string,
): string {
  const secret = `${JIT_SECRET_MARKER}-${randomBytes(16).toString('hex')}`;
  return b64json({
    '.runner': b64json({
      AgentId: String(id),
      AgentName: name,
      PoolId: String(groupId),
      PoolName: runnerGroupName(groupId),
      ServerUrl: `${ctx.webUrl}/_services/pipelines/${randomUUID()}/`,
      GitHubUrl: `${ctx.webUrl}/${scope}`,
      WorkFolder: workFolder,
      Ephemeral: 'true',
    }),
    '.credentials': b64json({ Scheme: 'OAuthAccessToken', Data: { token: secret } }),
    '.credentials_rsaparams': b64json({ d: secret, modulus: randomBytes(32).toString('base64') }),
  });
}

// GitHub validates the body against the operation's JSON schema; the messages follow what it was
// observed to answer for a missing `runner_group_id` ("Invalid input: object is missing required key").
function invalid(detail: string): never {
  throw new HttpError(422, `Invalid input: ${detail}`);
}

function parseJitRequest(ctx: HandlerContext) {
  const body = bodyObject(ctx);
  for (const key of ['name', 'runner_group_id', 'labels']) {
    if (body[key] === undefined) invalid(`object is missing required key: ${key}.`);
  }
  const { name, runner_group_id: groupId, labels, work_folder: workFolder } = body;
  if (typeof name !== 'string' || name.trim() === '') invalid('name must be a non-empty string.');
  if (typeof groupId !== 'number' || !Number.isInteger(groupId))
    invalid('runner_group_id must be an integer.');
  if (!Array.isArray(labels) || !labels.every((l): l is string => typeof l === 'string' && l !== '')) {
    invalid('labels must be an array of non-empty strings.');
  }
  if (labels.length < 1 || labels.length > 100)
    invalid(`labels must have 1 to 100 items, got ${labels.length}.`);
  if (workFolder !== undefined && typeof workFolder !== 'string') invalid('work_folder must be a string.');
  return { name, groupId, labels, workFolder: workFolder ?? '_work' };
}

const generateJitConfig: Handler = (ctx) => {
  const { kind, scope } = scopeOf(ctx);
  const req = parseJitRequest(ctx);
  if (!ctx.state.hasRunnerGroup(kind, scope, req.groupId)) throw new HttpError(404, 'Not Found');
  const taken = ctx.state.runnersIn(kind, scope).some((r) => scopeKey(r.name) === scopeKey(req.name));
  if (taken) throw new HttpError(409, `Already exists - A runner with the name ${req.name} already exists.`);
  const id = ctx.state.peekRunnerId();
  const runner = ctx.state.addRunner({
    name: req.name,
    labels: req.labels,
    scope,
    scopeKind: kind,
    runnerGroupId: req.groupId,
    workFolder: req.workFolder,
    jitConfig: encodeJitConfig(ctx, id, req.name, req.groupId, scope, req.workFolder),
  });
  return { status: 201, body: { runner: runnerJson(ctx, runner), encoded_jit_config: runner.jitConfig } };
};

function findRunner(ctx: HandlerContext): EmulatedRunner {
  const { kind, scope } = scopeOf(ctx);
  const runner = ctx.state.runnersIn(kind, scope).find((r) => r.id === Number(ctx.params.runner_id));
  if (!runner) throw new HttpError(404, 'Not Found');
  return runner;
}

const getRunner: Handler = (ctx) => ({ status: 200, body: runnerJson(ctx, findRunner(ctx)) });

const deleteRunner: Handler = (ctx) => {
  const runner = findRunner(ctx);
  // The docs list 422 for this route: GitHub refuses to remove a runner in the middle of a job.
  if (runner.busy) throw new HttpError(422, `Bad request - Runner "${runner.name}" is still running a job.`);
  ctx.state.runners.delete(runner.id);
  return { status: 204 };
};

const listRunners: Handler = (ctx) => {
  const { kind, scope } = scopeOf(ctx);
  const { perPage, page } = paging(ctx.query);
  const name = ctx.query.get('name');
  const all = ctx.state.runnersIn(kind, scope).filter((r) => name === null || r.name === name);
  const lastPage = Math.max(1, Math.ceil(all.length / perPage));
  const base = `${ctx.apiUrl}/${kind === 'org' ? 'orgs' : 'repos'}/${scope}/actions/runners?per_page=${perPage}${
    name === null ? '' : `&name=${encodeURIComponent(name)}`
  }&page=`;
  return {
    status: 200,
    body: {
      total_count: all.length,
      runners: all.slice((page - 1) * perPage, page * perPage).map((r) => runnerJson(ctx, r)),
    },
    headers: linkHeader({
      prev: page > 1 ? `${base}${page - 1}` : undefined,
      next: page < lastPage ? `${base}${page + 1}` : undefined,
      last: page < lastPage ? `${base}${lastPage}` : undefined,
      first: page > 1 ? `${base}1` : undefined,
    }),
  };
};

/** Handlers of the runner routes. */
export const RUNNER_HANDLERS: Partial<Record<RouteName, Handler>> = {
  generateJitConfigRepo: generateJitConfig,
  generateJitConfigOrg: generateJitConfig,
  getRunnerRepo: getRunner,
  getRunnerOrg: getRunner,
  deleteRunnerRepo: deleteRunner,
  deleteRunnerOrg: deleteRunner,
  listRunnersRepo: listRunners,
  listRunnersOrg: listRunners,
};
