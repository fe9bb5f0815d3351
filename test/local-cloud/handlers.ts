/**
 * Loads the BUILT Lambda bundles (`dist/assets/<name>/index.js`, what ships) as fresh modules, so
 * each test file or benchmark gets a cold container with its own environment.
 */
import { createRequire } from 'node:module';
import { existsSync, readFileSync } from 'node:fs';
import { runInThisContext } from 'node:vm';
import { join } from 'node:path';

const ASSETS = join(__dirname, '..', '..', 'dist', 'assets');

/** Loads one bundle into a new module with `env` applied to process.env first. */
export function loadBundle<T>(name: string, env: Record<string, string>): T {
  const file = join(ASSETS, name, 'index.js');
  if (!existsSync(file)) throw new Error(`${file} is missing: run \`npm run build\` first`);
  Object.assign(process.env, env);
  // A module of our own, outside any loader cache, so every load is a cold start. `process` is
  // passed in: under Jest, the test's process.env is not the Node realm's.
  const wrapper = runInThisContext(
    `(function (exports, require, module, __filename, __dirname, process) {${readFileSync(file, 'utf8')}\n})`,
    { filename: file },
  ) as (...args: unknown[]) => void;
  const module = { exports: {} as unknown };
  wrapper(module.exports, createRequire(file), module, file, join(file, '..'), process);
  return module.exports as T;
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
