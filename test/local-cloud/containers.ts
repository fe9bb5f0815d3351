/**
 * Lambda containers for one handler, as Lambda runs them: each container is one cold load of the
 * built bundle with SDK clients of its own, serves one invocation at a time, is reused while warm,
 * and is thrown away for good when it dies. Each container reaches the local cloud only through
 * its own {@link Gate}, so a test can kill it at any call of an invocation.
 */
import { githubApiUrl } from '../../lambda/core/settings';
import { CallLog, Gate, Interceptor, KilledCall, startGate } from './gate';
import {
  BundleTimers,
  HandlerName,
  HandlerSignatures,
  LambdaContext,
  loadHandler,
  nodeRealmTimers,
} from './handlers';

/** The environment variables that point a container at a service, by the gate upstream serving each. */
const ENDPOINT_VARIABLES = {
  dynamodb: 'AWS_ENDPOINT_URL_DYNAMODB',
  ec2: 'AWS_ENDPOINT_URL_EC2',
  ssm: 'AWS_ENDPOINT_URL_SSM',
  secretsmanager: 'AWS_ENDPOINT_URL_SECRETS_MANAGER',
  github: 'GITHUB_API_URL',
} as const;

type Upstream = keyof typeof ENDPOINT_VARIABLES;

let containerCount = 0;

/** Options of a {@link ContainerPool}. */
export interface ContainerPoolOptions<N extends HandlerName> {
  /** The bundle every container loads. */
  readonly handler: N;
  /**
   * The Lambda environment, pointing at the real servers: `AWS_ENDPOINT_URL_DYNAMODB`, `_EC2`, `_SSM`,
   * `_SECRETS_MANAGER`, and `GITHUB_API_URL` (or a loopback GHES `GITHUB_URL`). Each container gets
   * a copy with these rewritten to its gate.
   */
  readonly env: Record<string, string>;
  /** The containers' `Date`, e.g. a `VirtualClock`'s `DateClass`. @default the Node realm's `Date` */
  readonly Date?: DateConstructor;
  /** Where the gates log their calls. @default the shared call log */
  readonly callLog?: CallLog;
}

/** Options of one invocation. */
export interface InvokeOptions {
  /** Decides at each call of this invocation whether the container dies there. @default pass all */
  readonly intercept?: Interceptor;
}

/** One container, as the tests see it. */
export interface Container {
  readonly id: string;
  readonly gate: Gate;
  /** Invocations it has started. */
  readonly invocations: number;
  /** True once it died: it never serves again. */
  readonly discarded: boolean;
}

/** What an invocation came to: the handler's result, or the call at which its container was killed. */
export type Invocation<R> =
  | { readonly result: R; readonly killed?: undefined; readonly container: Container }
  | { readonly killed: KilledCall; readonly result?: undefined; readonly container: Container };

type Handler<N extends HandlerName> = HandlerSignatures[N];
type Result<N extends HandlerName> = Awaited<ReturnType<Handler<N>>>;

interface LiveContainer<N extends HandlerName> {
  readonly id: string;
  readonly gate: Gate;
  readonly handler: Handler<N>;
  readonly timers: ContainerTimers;
  invocations: number;
  discarded: boolean;
}

/**
 * The containers of one handler.
 *
 * @example
 * const pool = new ContainerPool({ handler: 'webhook', env: cloud.env });
 * const run = await pool.invoke(event, undefined, { intercept: killNthCall(2, 'kill-after') });
 * if (run.killed) // the container died right after its third call landed
 */
export class ContainerPool<N extends HandlerName> {
  private readonly upstreams: Partial<Record<Upstream, string>> = {};
  /** The path of the GitHub API under its origin (`/api/v3` for GHES). */
  private readonly githubPath: string;
  private readonly all: LiveContainer<N>[] = [];
  // Most recently used last: a warm container is taken before an older one, as Lambda tends to.
  private readonly idle: LiveContainer<N>[] = [];
  private stopped = false;

  constructor(private readonly options: ContainerPoolOptions<N>) {
    const env = options.env;
    const missing: string[] = [];
    for (const [upstream, variable] of Object.entries(ENDPOINT_VARIABLES) as [Upstream, string][]) {
      if (upstream === 'github') continue;
      if (env[variable]) this.upstreams[upstream] = originOf(variable, env[variable]);
      else missing.push(variable);
    }
    const api = env.GITHUB_API_URL || (env.GITHUB_URL && githubApiUrl(env.GITHUB_URL));
    if (!api) missing.push('GITHUB_API_URL');
    if (missing.length > 0) {
      throw new Error(
        `ContainerPool env: set ${missing.join(', ')} to the local cloud, or calls would leave it`,
      );
    }
    this.upstreams.github = originOf('GITHUB_API_URL', api as string);
    this.githubPath = new URL(api as string).pathname.replace(/\/+$/, '');
  }

  /** Every container created so far, dead ones included. */
  get containers(): readonly Container[] {
    return this.all;
  }

  /**
   * Runs one invocation in an idle container, or in a new (cold) one. Resolves with the result, or
   * as soon as an interceptor kills the container: that container is discarded and its leftover
   * code runs on against a cut gate. Rejects with the handler's error (the container stays warm,
   * as Lambda keeps it after a function error) or with the interceptor's.
   */
  async invoke(
    event: unknown,
    context?: LambdaContext,
    options: InvokeOptions = {},
  ): Promise<Invocation<Result<N>>> {
    if (this.stopped) throw new Error('ContainerPool is stopped');
    const container = this.idle.pop() ?? (await this.coldStart());
    container.invocations++;
    const killed = container.gate.intercept(options.intercept);
    const run = Promise.resolve().then(() =>
      (container.handler as (e: unknown, c?: LambdaContext) => Promise<Result<N>>)(event, context),
    );
    // The leftover code of a killed container may fail later; nobody is listening any more.
    run.catch(() => undefined);
    const outcome = await Promise.race([
      run.then(
        (result) => ({ result }),
        (error: unknown) => ({ error }),
      ),
      killed.then(
        (kill) => ({ kill }),
        (interceptorError: unknown) => ({ interceptorError }),
      ),
    ]);
    const kill = container.gate.kill;
    if ('interceptorError' in outcome || kill) {
      container.discarded = true;
      container.timers.die();
      if ('interceptorError' in outcome) throw outcome.interceptorError;
      return { killed: kill!, container: this.view(container) };
    }
    container.gate.intercept(undefined);
    // A gate cut by hand lets nothing through any more: its container is as good as dead.
    if (container.gate.isCut) {
      container.discarded = true;
      container.timers.die();
    } else if (!this.stopped) this.idle.push(container);
    if ('error' in outcome) throw outcome.error;
    return { result: (outcome as { result: Result<N> }).result, container: this.view(container) };
  }

  /** Stops every container's gate; the containers' pending calls fail. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.idle.length = 0;
    await Promise.all(this.all.map((c) => c.gate.stop()));
  }

  private async coldStart(): Promise<LiveContainer<N>> {
    // Taken before any await: containers started at once must not share an id (nor a log key).
    const id = `${this.options.handler}-${++containerCount}`;
    const gate = await startGate(this.upstreams as Record<string, string>, {
      id,
      callLog: this.options.callLog,
    });
    const env = { ...this.options.env };
    for (const [upstream, variable] of Object.entries(ENDPOINT_VARIABLES) as [Upstream, string][]) {
      env[variable] = gate.endpoints[upstream] + (upstream === 'github' ? this.githubPath : '');
    }
    // A process.env of the container's own: the SDK resolves endpoints at each client's first
    // request, long after the load, when another container may have been loaded.
    const timers = new ContainerTimers();
    const handler = loadHandler(this.options.handler, env, {
      Date: this.options.Date,
      isolateEnv: true,
      timers: timers.forBundle,
    });
    const container: LiveContainer<N> = { id, gate, handler, timers, invocations: 0, discarded: false };
    this.all.push(container);
    return container;
  }

  private view(c: LiveContainer<N>): Container {
    return { id: c.id, gate: c.gate, invocations: c.invocations, discarded: c.discarded };
  }
}

/**
 * A container's timers. A dead container's leftover code runs on (retries, backoff sleeps) until
 * its own deadlines; once it is dead its timers no longer keep the process alive, so Jest exits.
 */
class ContainerTimers {
  private readonly live = new Set<NodeJS.Timeout>();
  private dead = false;

  readonly forBundle: BundleTimers = {
    setTimeout: ((callback: (...args: unknown[]) => void, ms?: number, ...args: unknown[]) => {
      const timer = nodeRealmTimers.setTimeout(() => {
        this.live.delete(timer);
        callback(...args);
      }, ms);
      if (this.dead) timer.unref();
      else this.live.add(timer);
      return timer;
    }) as typeof setTimeout,
    clearTimeout: ((timer: NodeJS.Timeout | undefined) => {
      if (timer) this.live.delete(timer);
      nodeRealmTimers.clearTimeout(timer);
    }) as typeof clearTimeout,
  };

  die(): void {
    this.dead = true;
    for (const timer of this.live) timer.unref();
    this.live.clear();
  }
}

function originOf(variable: string, value: string): string {
  try {
    return new URL(value).origin;
  } catch {
    throw new Error(`ContainerPool env: ${variable}=${value} is not a URL`);
  }
}
