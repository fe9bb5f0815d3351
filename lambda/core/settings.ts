/**
 * The Lambdas' deployment settings: the environment variables the construct sets, their names
 * (shared with `lib/`), and their parsing and validation, done once per container.
 */

import { compileBindingPattern } from './binding-labels';
import { BreakerSettings, DEFAULT_BREAKER } from './circuit-breaker';
import { parseSourceCidrs, SourceAllowList } from './source-cidrs';

/** Environment variable names, shared by the construct (which sets them) and the handlers. */
export const ENV = {
  /** Name of the DynamoDB state table. */
  stateTable: 'STATE_TABLE_NAME',
  /** SSM path under which each runner config is one JSON parameter. */
  configPath: 'RUNNER_CONFIG_PATH',
  /** Seconds a runner config read from SSM is cached. */
  configCacheSeconds: 'RUNNER_CONFIG_CACHE_SECONDS',
  /** Base URL of GitHub: `https://github.com` or a GHES base URL such as `https://ghes.example.com`. */
  githubUrl: 'GITHUB_URL',
  /** Optional REST API base URL, when it is not the one derived from {@link ENV.githubUrl} (a proxy, say). */
  githubApiUrl: 'GITHUB_API_URL',
  /** The GitHub App's id. */
  githubAppId: 'GITHUB_APP_ID',
  /** Where the app's private key is: `secretsmanager:{arn or name}` or `ssm:{parameter name}`. */
  githubPrivateKey: 'GITHUB_PRIVATE_KEY_REF',
  /** Where the webhook secret is: `secretsmanager:{arn or name}` or `ssm:{parameter name}`. */
  webhookSecret: 'GITHUB_WEBHOOK_SECRET_REF',
  /** `org` or `repo`: where runners are registered. */
  runnerScope: 'RUNNER_SCOPE',
  /** Runner group id for org-level runners. */
  runnerGroupId: 'RUNNER_GROUP_ID',
  /** Comma-separated owners whose jobs are accepted (empty: no owner-wide allowance). */
  allowedOwners: 'ALLOWED_OWNERS',
  /** Comma-separated `owner/repo` entries whose jobs are accepted. */
  allowedRepositories: 'ALLOWED_REPOSITORIES',
  /** Milliseconds the webhook may spend launching before it answers and leaves the job pending. */
  deliveryBudgetMs: 'DELIVERY_BUDGET_MS',
  /** Minutes after which a job that never launched is given up. */
  pendingDeadlineMinutes: 'PENDING_DEADLINE_MINUTES',
  /** `arn:{partition}:ec2:{region}:{account}:instance/`: prefix of a JIT handoff item's key. */
  instanceArnPrefix: 'INSTANCE_ARN_PREFIX',
  /** Value of the owner tag on every instance this deployment launches. */
  ownerTag: 'RUNNER_OWNER_TAG',
  /** Seconds a launched runner may take to come online before the reconciler replaces it. */
  bootTimeoutSeconds: 'BOOT_TIMEOUT_SECONDS',
  /** Seconds a runner may sit online without a job (counted from its launch) before it is reaped. */
  idleTimeoutSeconds: 'IDLE_TIMEOUT_SECONDS',
  /** Seconds the reconciler's first scan of the App's deliveries looks back for failed ones. */
  redeliveryLookbackSeconds: 'REDELIVERY_LOOKBACK_SECONDS',
  /** Longest one GitHub request may take, in milliseconds, before it is aborted (the caller's deadline may cut it shorter). */
  githubRequestTimeoutMs: 'GITHUB_REQUEST_TIMEOUT_MS',
  /** Regular expression (case-insensitive) of a job's binding labels; empty: none (see core/binding-labels). */
  bindingLabelPattern: 'BINDING_LABEL_PATTERN',
  /** `true`: a rebalance recommendation replaces a runner whose job has not started. */
  replaceOnRebalance: 'REPLACE_ON_REBALANCE',
  /** `true`: a job a spot interruption failed while it ran is re-run once, on-demand. */
  rerunInterruptedJobs: 'RERUN_INTERRUPTED_JOBS',
  /** The spot circuit breaker: `{interruptions}/{window minutes}/{open minutes}`, e.g. `2/15/30`, or `off`. */
  spotCircuitBreaker: 'SPOT_CIRCUIT_BREAKER',
  /** Comma-separated CIDR ranges webhook deliveries may come from (empty: any source). */
  webhookSourceCidrs: 'WEBHOOK_SOURCE_CIDRS',
} as const;

/** Where a secret value lives. */
export type SecretRef =
  { readonly kind: 'secretsmanager'; readonly id: string } | { readonly kind: 'ssm'; readonly name: string };

/** The parsed, validated settings of a handler. */
export interface Settings {
  readonly stateTable: string;
  readonly configPath: string;
  readonly configCacheMs: number;
  readonly githubUrl: string;
  /** The REST API base URL derived from {@link githubUrl}. */
  readonly githubApiUrl: string;
  /** The host that keys job state (`github.com` or the GHES host). */
  readonly githubHost: string;
  readonly githubAppId: string;
  readonly githubPrivateKey: SecretRef;
  readonly webhookSecret: SecretRef;
  readonly runnerScope: 'org' | 'repo';
  readonly runnerGroupId: number;
  readonly allowedOwners: string[];
  readonly allowedRepositories: string[];
  readonly deliveryBudgetMs: number;
  readonly pendingDeadlineMs: number;
  readonly instanceArnPrefix: string;
  readonly ownerTag: string;
  readonly bootTimeoutMs: number;
  readonly idleTimeoutMs: number;
  readonly githubRequestTimeoutMs: number;
  readonly redeliveryLookbackMs: number;
  /** A job's binding labels; undefined: none. */
  readonly bindingLabelPattern?: RegExp;
  readonly replaceOnRebalance: boolean;
  readonly rerunInterruptedJobs: boolean;
  readonly spotCircuitBreaker: BreakerSettings;
  /** Where deliveries may come from; undefined: anywhere. */
  readonly webhookSourceCidrs: SourceAllowList;
}

/** Thrown when the environment is not what the construct sets: a deployment error, not a request error. */
export class SettingsError extends Error {}

/** Parses a secret reference of the form `secretsmanager:{id}` or `ssm:{name}`. */
export function parseSecretRef(variable: string, value: string): SecretRef {
  const i = value.indexOf(':');
  const kind = value.slice(0, i);
  const id = value.slice(i + 1);
  if (i > 0 && id !== '') {
    if (kind === 'secretsmanager') return { kind, id };
    if (kind === 'ssm') return { kind, name: id };
  }
  throw new SettingsError(
    `${variable} must be "secretsmanager:<arn or name>" or "ssm:<parameter name>", got "${value}"`,
  );
}

/** The REST API base of a GitHub URL: api.github.com for github.com, `{url}/api/v3` for GHES. */
export function githubApiUrl(githubUrl: string): string {
  const url = new URL(githubUrl);
  if (url.hostname === 'github.com' || url.hostname === 'www.github.com') return 'https://api.github.com';
  return `${url.origin}${url.pathname.replace(/\/+$/, '')}/api/v3`;
}

function list(value: string | undefined): string[] {
  return (value ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
}

/** Reads and validates the settings from an environment; every problem is named in one error. */
export function loadSettings(env: Record<string, string | undefined>): Settings {
  const problems: string[] = [];
  const required = (name: string): string => {
    const v = env[name];
    if (v === undefined || v === '') {
      problems.push(`${name} is not set`);
      return '';
    }
    return v;
  };
  const number = (name: string, fallback: number): number => {
    const v = env[name];
    if (v === undefined || v === '') return fallback;
    const n = Number(v);
    if (!Number.isFinite(n) || n < 0) {
      problems.push(`${name} must be a non-negative number, got "${v}"`);
      return fallback;
    }
    return n;
  };
  const secret = (name: string): SecretRef => {
    const v = required(name);
    if (v === '') return { kind: 'ssm', name: '' };
    try {
      return parseSecretRef(name, v);
    } catch (e) {
      problems.push((e as Error).message);
      return { kind: 'ssm', name: '' };
    }
  };

  const githubUrl = env[ENV.githubUrl] || 'https://github.com';
  let apiUrl = '';
  let host = '';
  try {
    apiUrl = env[ENV.githubApiUrl] || githubApiUrl(githubUrl);
    host = new URL(githubUrl).host;
  } catch {
    problems.push(`${ENV.githubUrl} is not a URL: "${githubUrl}"`);
  }
  const scope = env[ENV.runnerScope] || 'org';
  if (scope !== 'org' && scope !== 'repo')
    problems.push(`${ENV.runnerScope} must be "org" or "repo", got "${scope}"`);

  let webhookSourceCidrs: SourceAllowList;
  try {
    webhookSourceCidrs = parseSourceCidrs(env[ENV.webhookSourceCidrs]);
  } catch (e) {
    problems.push(`${ENV.webhookSourceCidrs}: ${(e as Error).message}`);
  }

  let bindingLabelPattern: RegExp | undefined;
  try {
    bindingLabelPattern = compileBindingPattern(env[ENV.bindingLabelPattern]);
  } catch (e) {
    problems.push(`${ENV.bindingLabelPattern}: ${(e as Error).message}`);
  }
  const flag = (name: string, fallback: boolean): boolean => {
    const v = env[name];
    if (v === undefined || v === '') return fallback;
    if (v === 'true' || v === 'false') return v === 'true';
    problems.push(`${name} must be "true" or "false", got "${v}"`);
    return fallback;
  };
  const breaker = ((): BreakerSettings => {
    const v = env[ENV.spotCircuitBreaker];
    if (v === undefined || v === '') return DEFAULT_BREAKER;
    if (v === 'off') return { threshold: Number.POSITIVE_INFINITY, windowMs: 0, openMs: 0 };
    const m = /^(\d+)\/(\d+)\/(\d+)$/.exec(v);
    if (!m || Number(m[1]) < 1 || Number(m[2]) < 1 || Number(m[3]) < 1) {
      problems.push(
        `${ENV.spotCircuitBreaker} must be "{interruptions}/{window minutes}/{open minutes}", got "${v}"`,
      );
      return DEFAULT_BREAKER;
    }
    return { threshold: Number(m[1]), windowMs: Number(m[2]) * 60_000, openMs: Number(m[3]) * 60_000 };
  })();

  const settings: Settings = {
    stateTable: required(ENV.stateTable),
    configPath: required(ENV.configPath),
    configCacheMs: number(ENV.configCacheSeconds, 60) * 1000,
    githubUrl,
    githubApiUrl: apiUrl,
    githubHost: host,
    githubAppId: required(ENV.githubAppId),
    githubPrivateKey: secret(ENV.githubPrivateKey),
    webhookSecret: secret(ENV.webhookSecret),
    runnerScope: scope as 'org' | 'repo',
    runnerGroupId: number(ENV.runnerGroupId, 1),
    allowedOwners: list(env[ENV.allowedOwners]),
    allowedRepositories: list(env[ENV.allowedRepositories]),
    deliveryBudgetMs: number(ENV.deliveryBudgetMs, 8000),
    pendingDeadlineMs: number(ENV.pendingDeadlineMinutes, 24 * 60) * 60_000,
    instanceArnPrefix: required(ENV.instanceArnPrefix),
    ownerTag: required(ENV.ownerTag),
    bootTimeoutMs: number(ENV.bootTimeoutSeconds, 600) * 1000,
    idleTimeoutMs: number(ENV.idleTimeoutSeconds, 600) * 1000,
    githubRequestTimeoutMs: number(ENV.githubRequestTimeoutMs, 5000),
    redeliveryLookbackMs: number(ENV.redeliveryLookbackSeconds, 3600) * 1000,
    webhookSourceCidrs,
    bindingLabelPattern,
    replaceOnRebalance: flag(ENV.replaceOnRebalance, true),
    rerunInterruptedJobs: flag(ENV.rerunInterruptedJobs, true),
    spotCircuitBreaker: breaker,
  };
  if (problems.length > 0) {
    throw new SettingsError(`invalid Lambda environment (the construct sets these): ${problems.join('; ')}`);
  }
  return settings;
}
