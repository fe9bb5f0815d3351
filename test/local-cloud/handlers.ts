/**
 * Loads the BUILT Lambda bundles (`dist/assets/<name>/index.js`, what ships) as fresh modules, so
 * each test file or benchmark gets a cold container with its own environment.
 */
import { createRequire } from 'node:module';
import { existsSync, readFileSync } from 'node:fs';
import { runInThisContext } from 'node:vm';
import { basename, join } from 'node:path';

// The bench runs from a copy (BUNDLES_DIR), so a rebuild while it runs cannot change its bundles.
const ASSETS = process.env.BUNDLES_DIR ?? join(__dirname, '..', '..', 'dist', 'assets');

/** The Node realm's globals: what a bundle, evaluated in that realm, sees unless told otherwise. */
const NODE_REALM_DATE = runInThisContext('Date') as DateConstructor;
/** The Node realm's timers (not the test's, which Jest may fake). */
export const nodeRealmTimers = runInThisContext('({ setTimeout, clearTimeout })') as BundleTimers;

/** The timer functions a bundle calls (it calls no others). */
export interface BundleTimers {
  readonly setTimeout: typeof setTimeout;
  readonly clearTimeout: typeof clearTimeout;
}

/** How a bundle is loaded. */
export interface LoadOptions {
  /** The `Date` the bundle sees, e.g. a `VirtualClock`'s `DateClass`. @default the Node realm's `Date` */
  readonly Date?: DateConstructor;
  /**
   * Give the bundle a `process.env` of its own (a copy of the test's, with `env` applied) instead of
   * writing `env` into the shared one. The AWS SDK reads `AWS_ENDPOINT_URL_*` at a client's first
   * request, not when the bundle loads: through a shared `process.env`, a later load would redirect an
   * earlier container's clients. @default false
   */
  readonly isolateEnv?: boolean;
  /** The bundle's timers, e.g. ones a dead container cannot keep the process alive with. @default the Node realm's */
  readonly timers?: BundleTimers;
  /**
   * Told the name of each file of the bundle as the container evaluates it: `index.js`, then a file
   * it requires beside itself (`launch-clients.js`, the launch path's clients) when first needed.
   * @default nothing is told
   */
  readonly onFileLoad?: (name: string) => void;
}

/** Loads one bundle into a new module with `env` applied to process.env first. */
export function loadBundle<T>(name: string, env: Record<string, string>, options: LoadOptions = {}): T {
  const file = join(ASSETS, name, 'index.js');
  if (!existsSync(file)) throw new Error(`${file} is missing: run \`npm run build\` first`);
  const bundleProcess = options.isolateEnv ? processWithEnv({ ...process.env, ...env }) : process;
  if (!options.isolateEnv) Object.assign(process.env, env);
  const timers = options.timers ?? nodeRealmTimers;
  const nodeRequire = createRequire(file);
  // A file the bundle requires beside itself (the launch path's clients) is part of the same
  // container: evaluated like the bundle, with its process, Date and timers, once per container.
  const siblings = new Map<string, unknown>();
  const bundleRequire = (id: string): unknown => {
    if (!id.startsWith('./')) return nodeRequire(id);
    if (!siblings.has(id)) siblings.set(id, evaluate(join(file, '..', id)));
    return siblings.get(id);
  };
  // A module of our own, outside any loader cache, so every load is a cold start. `process` is
  // passed in: under Jest, the test's process.env is not the Node realm's. So are `Date`, so that a
  // container can live in virtual time, and the timers, so that a dead one lets the process exit.
  const evaluate = (path: string): unknown => {
    options.onFileLoad?.(basename(path));
    const wrapper = runInThisContext(
      `(function (exports, require, module, __filename, __dirname, process, Date, setTimeout, clearTimeout) {${readFileSync(path, 'utf8')}\n})`,
      { filename: path },
    ) as (...args: unknown[]) => void;
    const module = { exports: {} as unknown };
    wrapper(
      module.exports,
      bundleRequire,
      module,
      path,
      join(path, '..'),
      bundleProcess,
      options.Date ?? NODE_REALM_DATE,
      timers.setTimeout,
      timers.clearTimeout,
    );
    return module.exports;
  };
  return evaluate(file) as T;
}

/** `process` as a bundle sees it, with `env` in place of `process.env`; everything else is shared. */
function processWithEnv(env: NodeJS.ProcessEnv): NodeJS.Process {
  return new Proxy(process, {
    get: (target, key) => (key === 'env' ? env : Reflect.get(target, key)),
    set: (target, key, value) => {
      if (key === 'env') env = value as NodeJS.ProcessEnv;
      else Reflect.set(target, key, value);
      return true;
    },
  });
}

/** The HTTP answer of the webhook handler. */
export interface WebhookResponse {
  statusCode: number;
  headers: Record<string, string>;
  body: string;
}

/** The handlers of a deployment. */
export interface Handlers {
  webhook(event: unknown): Promise<WebhookResponse>;
  retry(event: unknown, context?: { getRemainingTimeInMillis(): number }): Promise<Record<string, number>>;
}

/** The Lambda context fields the handlers read. */
export interface LambdaContext {
  getRemainingTimeInMillis(): number;
}

/** Each bundle's entry point. */
export interface HandlerSignatures {
  webhook(event: unknown): Promise<WebhookResponse>;
  retry(event: unknown, context?: LambdaContext): Promise<Record<string, number>>;
  reconcile(event: unknown, context?: LambdaContext): Promise<Record<string, number>>;
  interrupt(event: unknown, context?: LambdaContext): Promise<{ result: string }>;
}

/** The name of a Lambda bundle (`dist/assets/<name>`). */
export type HandlerName = keyof HandlerSignatures;

/** Loads one handler, cold, against `env`: one new Lambda container. */
export function loadHandler<N extends HandlerName>(
  name: N,
  env: Record<string, string>,
  options: LoadOptions = {},
): HandlerSignatures[N] {
  return loadBundle<{ handler: HandlerSignatures[N] }>(name, env, options).handler;
}

/** Loads both handlers, cold, against `env`. */
export function loadHandlers(env: Record<string, string>): Handlers {
  const webhook = loadBundle<{ handler: Handlers['webhook'] }>('webhook', env).handler;
  const retry = loadBundle<{ handler: Handlers['retry'] }>('retry', env).handler;
  return { webhook, retry };
}

/** Captures everything written to stdout and stderr (where Lambda logs go) until `stop()`. */
export function captureOutput(): { text(): string; stop(): void } {
  const chunks: string[] = [];
  const out = process.stdout.write.bind(process.stdout);
  const err = process.stderr.write.bind(process.stderr);
  const grab = (chunk: unknown) => {
    chunks.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk as Uint8Array).toString('utf8'));
    return true;
  };
  process.stdout.write = grab as typeof process.stdout.write;
  process.stderr.write = grab as typeof process.stderr.write;
  return {
    text: () => chunks.join(''),
    stop: () => {
      process.stdout.write = out;
      process.stderr.write = err;
    },
  };
}
