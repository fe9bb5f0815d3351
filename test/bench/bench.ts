/**
 * `npm run bench`: the core path on the local cloud, measured. Prints readable figures, and with
 * `--json` a last line holding one JSON object. No figure here is asserted anywhere: these machines
 * are shared and noisy, so read medians and ratios, not single runs.
 */
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { QueryCommand, UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import {
  PENDING_INDEX,
  PENDING_INDEX_PARTITION_KEY,
  PENDING_INDEX_SORT_KEY,
} from '../../lambda/core/state-schema';
import { captureOutput, loadHandler, loadHandlers, Handlers } from '../local-cloud/handlers';
import { CallLog, criticalPath as criticalPathOf } from '../local-cloud/call-log';
import { ContainerPool } from '../local-cloud/containers';
import { apiGatewayEvent, LocalCloud, startLocalCloud, workflowJobPayload } from '../local-cloud/local-cloud';
import { coldStart, coldStartLines } from './cold-start';
import { deliveriesRun, DeliveriesFigures } from './deliveries';
import { lifecycleDay } from './lifecycle';

const ROOT = join(__dirname, '..', '..');
const WEBHOOK_DIR = join(process.env.BUNDLES_DIR ?? join(ROOT, 'dist', 'assets'), 'webhook');
const WEBHOOK_BUNDLE = join(WEBHOOK_DIR, 'index.js');

const quantile = (sorted: number[], q: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
const median = (xs: number[]) =>
  quantile(
    [...xs].sort((a, b) => a - b),
    0.5,
  );
const round = (x: number, digits = 1) => Math.round(x * 10 ** digits) / 10 ** digits;

async function withCloud<T>(
  options: Parameters<typeof startLocalCloud>[0],
  fn: (cloud: LocalCloud, handlers: Handlers) => Promise<T>,
): Promise<T> {
  const cloud = await startLocalCloud(options);
  const handlers = loadHandlers(cloud.env);
  try {
    return await fn(cloud, handlers);
  } finally {
    await cloud.stop();
  }
}

/**
 * Remote calls made one after another for a warm job, counted from the causal order of the calls
 * at the local cloud (no timing): the webhook runs in a container whose every call goes through a
 * gate, the gate logs when each call arrived and when its answer left on one counter, and the
 * longest chain of calls each starting after the previous one's answer is the critical path.
 */
async function criticalPath() {
  const cloud = await startLocalCloud({ deliveryBudgetMs: 8000 });
  const callLog = new CallLog();
  const pool = new ContainerPool({ handler: 'webhook', env: cloud.env, callLog });
  try {
    await pool.invoke(await apiGatewayEvent(cloud, workflowJobPayload({ jobId: 1 }))); // warm: secrets, token, configs
    const depths: number[] = [];
    let calls: string[] = [];
    for (let i = 0; i < 5; i++) {
      callLog.clear();
      const run = await pool.invoke(await apiGatewayEvent(cloud, workflowJobPayload({ jobId: 100 + i })));
      if (run.result?.statusCode !== 200) throw new Error(`critical path run failed: ${run.result?.body}`);
      depths.push(criticalPathOf(callLog.calls));
      calls = callLog.calls.map((c) => `${c.upstream}:${c.target.replace('DynamoDB_20120810.', '')}`);
    }
    return { criticalPathCalls: median(depths), callsPerJob: calls.length, calls };
  } finally {
    await pool.stop();
    await cloud.stop();
  }
}

/** Handler latency: 1,000 distinct jobs at concurrency 50, no injected latency. */
async function handlerLatency() {
  return withCloud({}, async (cloud, handlers) => {
    await handlers.webhook(await apiGatewayEvent(cloud, workflowJobPayload({ jobId: 1 })));
    // One at a time first: what one invocation costs when it has the machine to itself.
    const serial: number[] = [];
    for (let i = 0; i < 100; i++) {
      const event = await apiGatewayEvent(cloud, workflowJobPayload({ jobId: 2_000 + i }));
      const t0 = performance.now();
      await handlers.webhook(event);
      serial.push(performance.now() - t0);
    }
    const durations: number[] = [];
    let next = 0;
    const t0 = performance.now();
    const jobs = 1000;
    await Promise.all(
      Array.from({ length: 50 }, async () => {
        while (next < jobs) {
          const jobId = 10_000 + next++;
          const event = await apiGatewayEvent(cloud, workflowJobPayload({ jobId }));
          const t0 = performance.now();
          const res = await handlers.webhook(event);
          durations.push(performance.now() - t0);
          if (res.statusCode !== 200) throw new Error(`job ${jobId}: ${res.statusCode} ${res.body}`);
        }
      }),
    );
    const elapsed = performance.now() - t0;
    const sorted = durations.sort((a, b) => a - b);
    const launched = new Set(cloud.ec2.instances().map((i) => i.tags['ephemeral-runners:job-key'])).size;
    return {
      handlerP50Ms: round(quantile(sorted, 0.5)),
      handlerP99Ms: round(quantile(sorted, 0.99)),
      serialP50Ms: round(median(serial)),
      jobsPerSecond: Math.round((jobs / elapsed) * 1000),
      launched,
    };
  });
}

/**
 * 500 jobs delivered at once with 20% of GitHub calls failing (5xx), EC2 throttling 20% of calls
 * and one spot pool out of capacity. Deferred jobs are then retried by the scheduled-retry handler;
 * the minute between scheduled runs is compressed by making pending jobs due at once.
 */
async function burst() {
  return withCloud({ deliveryBudgetMs: 8000 }, async (cloud, handlers) => {
    const jobs = 500;
    cloud.github.setFailureRate('all', 0.2, 502, 7);
    cloud.ec2.setThrottleRate(0.2, 11);
    cloud.ec2.setPoolCapacity('m7i.large', 'subnet-aaaa', 0);
    const t0 = Date.now();
    const events = await Promise.all(
      Array.from({ length: jobs }, (_, i) =>
        apiGatewayEvent(cloud, workflowJobPayload({ jobId: 50_000 + i })),
      ),
    );
    const answers = await Promise.all(events.map((e) => handlers.webhook(e)));
    const firstPass = answers.filter((a) => a.statusCode === 200).length;
    const statuses = new Set(answers.map((a) => a.statusCode));
    let rounds = 0;
    const liveByJob = () => {
      const m = new Map<string, number>();
      for (const i of cloud.ec2.instances()) {
        if (i.state === 'terminated' || i.state === 'shutting-down') continue;
        const k = i.tags['ephemeral-runners:job-key'];
        m.set(k, (m.get(k) ?? 0) + 1);
      }
      return m;
    };
    // EC2's state changes go to the reconciler, as the deployed rule sends them: a launch adopted
    // while an abandoned call was still terminating its instance is relaunched from there.
    const reconcile = loadHandler('reconcile', cloud.env);
    const forwardStateChanges = () =>
      Promise.all(
        cloud.ec2
          .takeEvents()
          .filter((e) => 'state' in e.detail && e.detail.state === 'terminated')
          .map((e) => reconcile(e, { getRemainingTimeInMillis: () => 60_000 })),
      );
    while (liveByJob().size < jobs && rounds < 30) {
      rounds++;
      await forwardStateChanges();
      await makeAllPendingDue(cloud);
      await handlers.retry({}, { getRemainingTimeInMillis: () => 15 * 60_000 });
    }
    const drainSeconds = (Date.now() - t0) / 1000;
    const live = liveByJob();
    const counts = Array.from({ length: jobs }, (_, i) => live.get(`github.com/${50_000 + i}/1`) ?? 0);
    return {
      jobs,
      launched: counts.filter((c) => c >= 1).length,
      duplicates: counts.filter((c) => c > 1).length,
      lost: counts.filter((c) => c === 0).length,
      drainSeconds: round(drainSeconds),
      launchedOnFirstDelivery: firstPass,
      retryRounds: rounds,
      answerStatuses: [...statuses].sort(),
      spotShare: round(
        cloud.ec2.instances().filter((i) => i.state !== 'terminated' && i.market === 'spot').length /
          Math.max(1, jobs),
        2,
      ),
    };
  });
}

async function makeAllPendingDue(cloud: LocalCloud) {
  const now = Date.now();
  let startKey: Record<string, never> | undefined;
  do {
    const out = await cloud.dynamo.client.send(
      new QueryCommand({
        TableName: cloud.tableName,
        IndexName: PENDING_INDEX,
        KeyConditionExpression: '#g = :p',
        ExpressionAttributeNames: { '#g': PENDING_INDEX_PARTITION_KEY },
        ExpressionAttributeValues: { ':p': { S: 'pending' } },
        ExclusiveStartKey: startKey,
      }),
    );
    await Promise.all(
      (out.Items ?? []).map((item) =>
        cloud.dynamo.client.send(
          new UpdateItemCommand({
            TableName: cloud.tableName,
            Key: { pk: item.pk },
            UpdateExpression: 'SET #n = :now, leaseUntil = :past',
            ConditionExpression: 'attribute_exists(#g)',
            ExpressionAttributeNames: { '#n': PENDING_INDEX_SORT_KEY, '#g': PENDING_INDEX_PARTITION_KEY },
            ExpressionAttributeValues: { ':now': { N: String(now - 1) }, ':past': { N: String(now - 1) } },
          }),
        ),
      ),
    );
    startKey = out.LastEvaluatedKey as typeof startKey;
  } while (startKey);
}

async function bootOverhead(): Promise<number | undefined> {
  const file = join(ROOT, 'test', 'bench', 'boot-bench.mjs');
  if (!existsSync(file)) return undefined;
  const mod = (await import(file)) as { measureBootOverheadMs(): Promise<{ medianMs: number }> };
  return round((await mod.measureBootOverheadMs()).medianMs);
}

/** The interruption and stolen-runner figures of the lifecycle day. */
function interruptionFigures(life: Awaited<ReturnType<typeof lifecycleDay>>) {
  return {
    interrupted: life.interrupted,
    replaced: life.replaced,
    rerun: life.rerun,
    rerunOnDemand: life.rerunOnDemand,
    rerunLaunchedOnDemand: life.rerunLaunchedOnDemand,
    rerunNotOnce: life.rerunNotOnce,
    rerunBound: life.rerunBound,
    rerunBoundOnDemand: life.rerunBoundOnDemand,
    ec2EventsLost: life.ec2EventsLost,
    interruptKills: life.interruptKills,
    reconcilerKills: life.reconcilerKills,
    stolen: life.stolen,
    stolenReplaced: life.stolenReplaced,
  };
}

/** The readable line of the lifecycle day's interruptions and stolen runners. */
function lifecycleInterruptionsLine(life: Awaited<ReturnType<typeof lifecycleDay>>): string {
  return (
    `  lifecycle day, spot and stealing: ${life.interrupted} spot interruptions, ${life.replaced} jobs relaunched before they started, ` +
    `${life.rerun} re-runs asked, ${life.rerunLaunchedOnDemand} re-run jobs launched on-demand (${life.rerunOnDemand} ran on on-demand; ` +
    `${life.rerunBoundOnDemand} of the ${life.rerunBound} with a binding label), ${life.rerunNotOnce} interrupted jobs not re-run exactly once; ` +
    `${life.ec2EventsLost} EC2 events lost, ${life.interruptKills} interruption Lambda invocations and ${life.reconcilerKills} reconciler runs stopped; ` +
    `${life.stolen} runners taken by another job, ${life.stolenReplaced} replacements launched`
  );
}

/** The readable line of the deliveries figure. */
function deliveriesLine(d: DeliveriesFigures): string {
  return (
    `  deliveries failing (10% of first deliveries, 20% of rounds reordered): ${d.jobs} jobs, ${d.launched} ran, ` +
    `${d.lost} lost, ${d.duplicates} run twice; ${d.failedDeliveries} failed deliveries, ${d.redelivered} redeliveries; ` +
    `${d.launchedAfterCompletion} instances launched after the deployment recorded their job's end, ` +
    `${d.launchesRacingCompletion} launched while the job's end was on its way (then terminated)`
  );
}

/** `--name value` from the command line. */
function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

// Saved before the handlers' logs are captured: the figures go out through these. The capture is
// never stopped, since containers killed by the lifecycle day may still log while the process ends.
const out = process.stdout.write.bind(process.stdout);
const err = process.stderr.write.bind(process.stderr);

async function main() {
  const json = process.argv.includes('--json');
  const only = arg('only');
  if (only === 'lifecycle') {
    const captured = captureOutput();
    // --trace-lost FILE writes what exists about each lost job, with the Lambda log lines naming it.
    const traceFile = arg('trace-lost');
    const day = await lifecycleDay(
      Number(arg('lifecycle-jobs') ?? 2000),
      Number(arg('seed') ?? 7),
      traceFile
        ? (postMortems) => {
            const lines = captured.text().split('\n');
            const traced = postMortems.map((p) => ({
              ...p,
              lambdaLog: lines.filter((l) => l.includes(String(p.jobId))),
            }));
            writeFileSync(traceFile, JSON.stringify(traced, null, 2));
          }
        : undefined,
      Number(arg('fault-scale') ?? 1),
    );
    err(`${lifecycleInterruptionsLine(day)}\n`);
    out(`${JSON.stringify({ lifecycle: day })}\n`);
    return;
  }
  if (only === 'burst') {
    captureOutput();
    out(`${JSON.stringify({ burst: await burst() })}\n`);
    return;
  }
  if (only === 'coldstart') {
    captureOutput();
    // --bundle DIR measures another build's webhook bundle (a copy of dist/assets/webhook), to compare.
    const c = await coldStart(arg('bundle') ?? WEBHOOK_DIR, Number(arg('cold-rounds') ?? 9));
    err(`${coldStartLines(c).join('\n')}\n`);
    if (json) out(`${JSON.stringify({ coldStart: c })}\n`);
    return;
  }
  if (only === 'deliveries') {
    captureOutput();
    const d = await deliveriesRun(Number(arg('deliveries-jobs') ?? 1000), Number(arg('seed') ?? 11));
    err(`${deliveriesLine(d)}\n`);
    if (json) out(`${JSON.stringify({ deliveries: d })}\n`);
    return;
  }
  if (!existsSync(WEBHOOK_BUNDLE)) throw new Error('run `npm run build` first');
  const say = (s: string) => err(`${s}\n`);
  // The handlers' own logs would drown the figures.
  captureOutput();
  const cp = await criticalPath();
  const latency = await handlerLatency();
  const b = await burst();
  const cold = await coldStart(WEBHOOK_DIR, Number(arg('cold-rounds') ?? 9));
  const boot = await bootOverhead();
  const life = await lifecycleDay(Number(arg('lifecycle-jobs') ?? 2000), Number(arg('seed') ?? 7));
  const deliveries = await deliveriesRun(Number(arg('deliveries-jobs') ?? 1000));
  say('cdk-ephemeral-runners benchmark (local cloud on 127.0.0.1; figures vary with machine load)');
  say(
    `  critical path: ${cp.criticalPathCalls} remote calls one after another (${cp.callsPerJob} calls in all per warm job: ${cp.calls.join(', ')})`,
  );
  say(
    `  webhook handler, 1,000 jobs at concurrency 50: p50 ${latency.handlerP50Ms} ms, p99 ${latency.handlerP99Ms} ms, ` +
      `${latency.jobsPerSecond} jobs/s (the 50 handlers and the whole local cloud share one Node process)`,
  );
  say(`  webhook handler, one job at a time: p50 ${latency.serialP50Ms} ms`);
  say(
    `  burst of ${b.jobs} with faults: ${b.launched} launched, ${b.duplicates} duplicated, ${b.lost} lost; ` +
      `${b.launchedOnFirstDelivery} on first delivery, ${b.jobs - b.launchedOnFirstDelivery} by ${b.retryRounds} scheduled-retry round(s); drained in ${b.drainSeconds} s (retry waits compressed)`,
  );
  for (const line of coldStartLines(cold)) say(line);
  if (boot !== undefined) say(`  boot script overhead (start → runner exec): ${boot} ms`);
  say(
    `  lifecycle day (${life.virtualHours} virtual hours): ${life.jobs} jobs, ${life.ran} ran, ${life.cancelled} cancelled, ` +
      `${life.lost} lost, ${life.duplicates} run twice; leaked ${life.leakedInstances} instances, ${life.leakedRegistrations} registrations, ` +
      `${life.leakedHandoffs} JIT configs; ${life.idleInstanceMinutesPerJob} idle instance-minutes a job; queued → running p50 ${life.queueP50s} s, p95 ${life.queueP95s} s; ` +
      `${life.webhookKills} webhook and ${life.retryKills} retry invocations stopped, ${life.redelivered} redeliveries, ${life.hungGitHubCalls} GitHub calls hung`,
  );
  say(lifecycleInterruptionsLine(life));
  say(deliveriesLine(deliveries));
  const summary = {
    criticalPathCalls: cp.criticalPathCalls,
    handlerP50Ms: latency.handlerP50Ms,
    handlerP99Ms: latency.handlerP99Ms,
    burst: {
      jobs: b.jobs,
      launched: b.launched,
      duplicates: b.duplicates,
      lost: b.lost,
      drainSeconds: b.drainSeconds,
    },
    coldInitMs: { completed: cold.completed.coldInitMs, queued: cold.queued.coldInitMs },
    coldStart: cold,
    bundleBytes: cold.bundleBytes,
    ...(boot !== undefined ? { bootOverheadMs: boot } : {}),
    lifecycle: {
      jobs: life.jobs,
      ran: life.ran,
      lost: life.lost,
      duplicates: life.duplicates,
      leakedInstances: life.leakedInstances,
      leakedRegistrations: life.leakedRegistrations,
      idleInstanceMinutesPerJob: life.idleInstanceMinutesPerJob,
      queueP50s: life.queueP50s,
      queueP95s: life.queueP95s,
      ...interruptionFigures(life),
    },
    deliveries,
  };
  if (json) out(`${JSON.stringify(summary)}\n`);
}

main().then(
  () => process.exit(0),
  (e) => {
    err(`benchmark failed: ${(e as Error).stack}\n`);
    process.exit(1);
  },
);
