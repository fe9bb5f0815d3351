/**
 * The removal of a deployment, when its stack is deleted (or the construct leaves it): terminate the
 * owner-tagged instances (they are not CloudFormation resources, and their network interfaces would keep
 * the security group and the VPC from being deleted) and delete our runner registrations. Rounds of
 * list → plan (core/teardown-plan, pure) → act, until nothing is left or the time is up; what is left
 * then is logged, and the stack deletion goes on.
 */
import { classifyAwsFailure, classifyGitHubFailure } from '../core/call-failure';
import { InstanceView } from '../core/fleet-views';
import { ListedScope } from '../core/reconcile-plan';
import { planTeardown, teardownComplete, TeardownSnapshot } from '../core/teardown-plan';
import type { Ec2Launcher } from '../adapters/ec2-launcher';
import type { GitHubRunners, RunnerScope } from '../adapters/github';
import { withRetry } from '../adapters/retrying';
import { runnerScopeOf } from '../launch/launch-job';
import { scopeId } from '../reconcile/reconcile-run';
import { Runtime } from '../runtime';

/** Options of one removal. */
export interface TeardownOptions {
  /** Epoch ms by which the removal stops (and the handler answers CloudFormation). */
  readonly stopBy: number;
  /** Wait between rounds while instances shut down. @default 5000 */
  readonly pollMs?: number;
  readonly now?: () => number;
  readonly sleep?: (ms: number) => Promise<void>;
}

/** What a removal did and left. */
export interface TeardownSummary {
  complete: boolean;
  rounds: number;
  terminated: number;
  deregistered: number;
  /** Whether any listing of the instances worked (when not, `instancesLeft` is unknown, not empty). */
  instancesListed: boolean;
  /** Instances not yet terminated when it stopped, by the last listing that worked. */
  instancesLeft: string[];
  /** Our registrations still listed when it stopped (GitHub removes an offline ephemeral runner after a day). */
  registrationsLeft: string[];
  /** Calls that failed (each retried next round). */
  failures: string[];
}

/** A scope to list, and the installation that reaches it. */
interface ScopeToList {
  readonly id: string;
  readonly scope: RunnerScope;
  readonly installationId: number;
}

/** Removes what this deployment left outside CloudFormation. Never throws for remote failures. */
export async function tearDown(runtime: Runtime, options: TeardownOptions): Promise<TeardownSummary> {
  const now = options.now ?? Date.now;
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const log = runtime.logger.createChild();
  const { settings } = runtime;
  const summary: TeardownSummary = {
    complete: false,
    rounds: 0,
    terminated: 0,
    deregistered: 0,
    instancesListed: false,
    instancesLeft: [],
    registrationsLeft: [],
    failures: [],
  };
  const fail = (what: string, e: unknown) => {
    const message = `${what}: ${(e as Error).message}`;
    summary.failures.push(message);
    log.warn('removal step failed; the next round tries again', { error: message });
  };
  const aws = { deadline: options.stopBy, now, classify: classifyAwsFailure };
  const ec2 = await runtime.ec2();
  const github = await runtime.github().catch((e: unknown) => {
    fail('GitHub client (github.privateKey)', e);
    return undefined;
  });
  const knownScopes = await knownScopesOf(runtime, aws).catch((e: unknown) => {
    fail('state table', e);
    return [] as ScopeToList[];
  });

  // What the last listing that worked showed: a failed listing leaves nothing known to be gone.
  let known: InstanceView[] | undefined;
  while (now() < options.stopBy) {
    summary.rounds++;
    const instances = await listInstances(ec2, settings.ownerTag, options.stopBy, now).catch((e: unknown) => {
      fail('DescribeInstances', e);
      return undefined;
    });
    known = instances ?? known;
    summary.instancesListed = known !== undefined;
    const scopes = scopesOf(runtime, knownScopes, known ?? []);
    const listed = github
      ? await listScopes(github, scopes, options.stopBy, (s, e) => fail(`list runners of ${s}`, e))
      : scopes.map((s) => ({ scope: s.id, registrations: [], complete: false }));
    const snapshot: TeardownSnapshot = {
      host: settings.githubHost,
      ownerTag: settings.ownerTag,
      instances: known ?? [],
      scopes: listed,
    };
    const plan = planTeardown(snapshot);
    summary.instancesLeft = [...plan.terminate, ...plan.shuttingDown];
    summary.registrationsLeft = plan.deregister.map((d) => d.runnerName);
    if (instances !== undefined && github !== undefined && teardownComplete(snapshot)) {
      summary.complete = true;
      break;
    }
    if (now() >= options.stopBy) break;

    // Registrations first: a runner that is not busy is gone before its instance; a busy one is refused
    // (422) until its instance has been terminated, and is deleted in a later round.
    const byId = new Map(scopes.map((s) => [s.id, s]));
    await Promise.all(
      plan.deregister.map(async (d) => {
        const scope = byId.get(d.scope);
        if (!scope || !github) return;
        try {
          await withRetry(
            () =>
              github.deleteRunner(scope.installationId, scope.scope, d.runnerId, {
                deadline: options.stopBy,
              }),
            { deadline: options.stopBy, now, classify: classifyGitHubFailure, maxAttempts: 2 },
          );
          summary.deregistered++;
          log.info('runner registration deleted', { runnerName: d.runnerName });
        } catch (e) {
          if ((e as { failure?: { code?: string } }).failure?.code !== '422')
            fail(`delete runner ${d.runnerName}`, e);
        }
      }),
    );
    // TerminateInstances takes up to 1000 ids a call.
    for (let i = 0; i < plan.terminate.length; i += 1000) {
      const batch = plan.terminate.slice(i, i + 1000);
      try {
        await withRetry(
          () => ec2.terminate(batch, AbortSignal.timeout(Math.max(1, options.stopBy - now()))),
          aws,
        );
        summary.terminated += batch.length;
        log.info('instances terminated', { instanceIds: batch });
      } catch (e) {
        fail('TerminateInstances', e);
      }
    }
    const wait = Math.min(options.pollMs ?? 5000, options.stopBy - now());
    if (wait > 0) await sleep(wait);
  }
  const level = summary.complete ? 'info' : 'error';
  log[level](
    summary.complete
      ? 'removal complete: no instance or runner registration of this deployment is left'
      : 'removal incomplete: the stack deletion goes on; terminate what is left by its owner tag (README, "Removing a deployment")',
    { ...summary, ownerTag: settings.ownerTag },
  );
  return summary;
}

/** Every owner-tagged instance, all pages. */
async function listInstances(
  ec2: Ec2Launcher,
  ownerTag: string,
  stopBy: number,
  now: () => number,
): Promise<InstanceView[]> {
  const listed = await withRetry(
    () =>
      ec2.describeOwned(ownerTag, {
        maxPages: 20,
        abortSignal: AbortSignal.timeout(Math.max(1, stopBy - now())),
      }),
    { deadline: stopBy, now, classify: classifyAwsFailure },
  );
  if (!listed.complete) throw new Error('more than 20 pages of instances: listed what fits');
  return listed.instances;
}

/** The scopes the reconciler saw in use and those of live job records. */
async function knownScopesOf(
  runtime: Runtime,
  aws: { deadline: number; now: () => number; classify: typeof classifyAwsFailure },
): Promise<ScopeToList[]> {
  const scopes = new Map<string, ScopeToList>();
  for (const s of await withRetry(() => runtime.store.reconciler.scopes(), aws)) {
    const scope = parseScope(s.scope);
    if (scope) scopes.set(s.scope, { id: s.scope, scope, installationId: s.installationId });
  }
  let startKey: Parameters<Runtime['store']['jobs']['live']>[1];
  for (let page = 0; page < 10; page++) {
    const res = await withRetry(() => runtime.store.jobs.live(500, startKey), aws);
    for (const r of res.jobs) add(scopes, runtime.settings.runnerScope, r.repository, r.installationId);
    startKey = res.nextKey;
    if (!startKey) break;
  }
  return [...scopes.values()];
}

/** The known scopes with those the instances name. */
function scopesOf(runtime: Runtime, known: readonly ScopeToList[], instances: readonly InstanceView[]) {
  const scopes = new Map(known.map((s) => [s.id, s]));
  for (const i of instances) add(scopes, runtime.settings.runnerScope, i.repository, i.installationId);
  return [...scopes.values()];
}

function add(
  scopes: Map<string, ScopeToList>,
  runnerScope: 'org' | 'repo',
  repository: string | undefined,
  installationId: number | undefined,
): void {
  if (!repository || installationId === undefined || !repository.includes('/')) return;
  const scope = runnerScopeOf(runnerScope, repository);
  const id = scopeId(scope);
  if (!scopes.has(id)) scopes.set(id, { id, scope, installationId });
}

/** `org:{org}` or `repo:{owner}/{repo}` (see `scopeId`) back to a scope. */
function parseScope(id: string): RunnerScope | undefined {
  const [kind, rest] = [id.slice(0, id.indexOf(':')), id.slice(id.indexOf(':') + 1)];
  if (kind === 'org' && rest) return { org: rest };
  const [owner, repo] = rest.split('/');
  return kind === 'repo' && owner && repo ? { owner, repo } : undefined;
}

async function listScopes(
  github: GitHubRunners,
  scopes: readonly ScopeToList[],
  deadline: number,
  onError: (scope: string, e: unknown) => void,
): Promise<ListedScope[]> {
  return Promise.all(
    scopes.map(async (s) => {
      try {
        const listing = await withRetry(
          () => github.listRunners(s.installationId, s.scope, { maxPages: 10, deadline }),
          { deadline, classify: classifyGitHubFailure, maxAttempts: 3 },
        );
        return { scope: s.id, registrations: listing.runners, complete: listing.complete };
      } catch (e) {
        onError(s.id, e);
        return { scope: s.id, registrations: [], complete: false };
      }
    }),
  );
}
