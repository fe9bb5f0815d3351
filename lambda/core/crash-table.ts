/**
 * The crash table: every remote call of the launch path × where an invocation may stop around it →
 * what is left behind and which actor repairs it. Plain data, read by the README and by the tests,
 * one test per row (test/integration/crash-table.test.ts stops a real invocation at each row, then
 * runs the retry and the reconciler until nothing is due).
 *
 * The launch path of one attempt, in order (a retry registers before it launches; the first
 * attempt, racing GitHub's delivery timeout, does both at once):
 *   claim / take-over → settle the previous attempt (retries) → register ∥ CreateFleet → handoff → record launched
 */

/** A step of the launch path: one remote call. */
export type LaunchStep =
  | 'claim'
  | 'take-over'
  | 'settle-find'
  | 'register'
  | 'create-fleet'
  | 'handoff'
  | 'record-launched'
  | 'defer';

/**
 * Where the invocation stops: before the call leaves; while it is in flight (it lands later, after
 * others have moved on, or never); after it landed but before its answer arrived.
 */
export type CrashPhase = 'before' | 'in-flight' | 'after';

/** Who repairs what a stopped invocation left. */
export type RepairActor =
  | 'nobody needed'
  | 'retry (lease expiry)'
  | 'next attempt (settle)'
  | 'reconciler (orphan)'
  | 'reconciler (ghost)'
  | 'redelivery';

/** One row of the crash table. */
export interface CrashRow {
  readonly step: LaunchStep;
  readonly phase: CrashPhase;
  /** Which invocation runs the step. */
  readonly invocation: 'webhook' | 'retry';
  /** What exists when the invocation has stopped. */
  readonly left: string;
  readonly repairedBy: RepairActor;
  /** What the repairing actor does. */
  readonly repair: string;
}

const LEASE = 'the record stays `launching` under a lease that expires (90 s)';

/** The crash table. */
export const CRASH_TABLE: readonly CrashRow[] = [
  {
    step: 'claim',
    phase: 'before',
    invocation: 'webhook',
    left: 'nothing: no record, no runner, no instance; GitHub records the delivery as failed',
    repairedBy: 'redelivery',
    repair:
      "the reconciler's redelivery step finds the failed delivery in the App's delivery log and asks GitHub to redeliver it (GitHub does not by itself); the redelivery claims and launches",
  },
  {
    step: 'claim',
    phase: 'in-flight',
    invocation: 'webhook',
    left: `the claim may land late: then ${LEASE}, with attempt 1 named and nothing launched`,
    repairedBy: 'retry (lease expiry)',
    repair: 'takes the job over as attempt 2, finds nothing of attempt 1, launches',
  },
  {
    step: 'claim',
    phase: 'after',
    invocation: 'webhook',
    left: `${LEASE}; attempt 1 named, nothing launched`,
    repairedBy: 'retry (lease expiry)',
    repair: 'takes the job over as attempt 2, finds nothing of attempt 1, launches',
  },
  {
    step: 'register',
    phase: 'before',
    invocation: 'webhook',
    left: `${LEASE}; CreateFleet (in parallel) may have launched attempt 1's instance, with no handoff`,
    repairedBy: 'next attempt (settle)',
    repair:
      "attempt 2 finds attempt 1's instance by its runner-name tag, without handoff: terminates it, then launches",
  },
  {
    step: 'register',
    phase: 'after',
    invocation: 'webhook',
    left: `${LEASE}; attempt 1's registration exists, maybe its instance too, no handoff`,
    repairedBy: 'next attempt (settle)',
    repair:
      "attempt 2 deletes attempt 1's registration (found by name) and terminates its instance, then launches",
  },
  {
    step: 'register',
    phase: 'in-flight',
    invocation: 'webhook',
    left: `${LEASE}; attempt 1's registration may appear late, after attempt 2 looked for it`,
    repairedBy: 'reconciler (ghost)',
    repair: 'a registration of ours, offline, with no live instance and no attempt in progress, is deleted',
  },
  {
    step: 'create-fleet',
    phase: 'before',
    invocation: 'webhook',
    left: `${LEASE}; attempt 1's registration may exist (registered in parallel), no instance`,
    repairedBy: 'next attempt (settle)',
    repair: 'attempt 2 deletes the registration without instance, then launches',
  },
  {
    step: 'create-fleet',
    phase: 'in-flight',
    invocation: 'webhook',
    left: `${LEASE}; attempt 1's instance appears late, after attempt 2 has looked for it`,
    repairedBy: 'reconciler (orphan)',
    repair:
      'an owner-tagged instance that no live record names, older than the grace period, is deregistered and terminated (it also shuts itself down: no handoff comes)',
  },
  {
    step: 'create-fleet',
    phase: 'after',
    invocation: 'webhook',
    left: `${LEASE}; attempt 1's instance and registration exist, no handoff`,
    repairedBy: 'next attempt (settle)',
    repair:
      'attempt 2 deletes the registration, terminates the instance (no handoff: it cannot run), launches',
  },
  {
    step: 'handoff',
    phase: 'before',
    invocation: 'webhook',
    left: `${LEASE}; instance and registration exist, no handoff`,
    repairedBy: 'next attempt (settle)',
    repair: 'attempt 2 cleans attempt 1 up and launches',
  },
  {
    step: 'handoff',
    phase: 'in-flight',
    invocation: 'webhook',
    left: `${LEASE}; the handoff lands late or never`,
    repairedBy: 'next attempt (settle)',
    repair:
      'attempt 2 adopts attempt 1 if its handoff is there (or its runner is online), else cleans it up; a handoff landing after the clean-up is removed by its TTL and its instance is gone',
  },
  {
    step: 'handoff',
    phase: 'after',
    invocation: 'webhook',
    left: `${LEASE}; instance, registration and handoff exist: the runner boots and may run the job`,
    repairedBy: 'next attempt (settle)',
    repair:
      'attempt 2 adopts attempt 1 (records it launched) instead of launching: the handoff is there, or consumed and the runner online or busy',
  },
  {
    step: 'record-launched',
    phase: 'before',
    invocation: 'webhook',
    left: `${LEASE}; a complete launch that the record does not name`,
    repairedBy: 'next attempt (settle)',
    repair: 'attempt 2 adopts attempt 1',
  },
  {
    step: 'record-launched',
    phase: 'in-flight',
    invocation: 'webhook',
    left: 'the record write lands late: before the lease expires it records the launch; after, its lease condition refuses it',
    repairedBy: 'next attempt (settle)',
    repair: 'either the record is `launched`, or attempt 2 adopts attempt 1',
  },
  {
    step: 'record-launched',
    phase: 'after',
    invocation: 'webhook',
    left: 'the launch is recorded; only the answer to GitHub is lost (a failed delivery)',
    repairedBy: 'nobody needed',
    repair: 'a redelivery finds the job claimed and launches nothing',
  },
  {
    step: 'take-over',
    phase: 'before',
    invocation: 'retry',
    left: 'the record is as the previous actor left it (pending, or launching under an expired lease)',
    repairedBy: 'retry (lease expiry)',
    repair: 'the next retry run takes it over',
  },
  {
    step: 'take-over',
    phase: 'after',
    invocation: 'retry',
    left: `${LEASE}, naming the new attempt; nothing of it launched`,
    repairedBy: 'retry (lease expiry)',
    repair: 'the next retry run takes it over again and settles both earlier attempts',
  },
  {
    step: 'settle-find',
    phase: 'after',
    invocation: 'retry',
    left: `${LEASE}; the previous attempt's leftovers are still there`,
    repairedBy: 'retry (lease expiry)',
    repair:
      'the next attempt looks for every earlier attempt of the job (by its job-key tag) and settles them',
  },
  {
    step: 'register',
    phase: 'after',
    invocation: 'retry',
    left: `${LEASE}; the retry attempt's registration exists, no instance (retries register first)`,
    repairedBy: 'next attempt (settle)',
    repair: 'the following attempt deletes it, then launches',
  },
  {
    step: 'create-fleet',
    phase: 'after',
    invocation: 'retry',
    left: `${LEASE}; the retry attempt's instance and registration exist, no handoff`,
    repairedBy: 'next attempt (settle)',
    repair: 'the following attempt cleans it up and launches',
  },
  {
    step: 'handoff',
    phase: 'after',
    invocation: 'retry',
    left: `${LEASE}; a complete launch that the record does not name`,
    repairedBy: 'next attempt (settle)',
    repair: 'the following attempt adopts it',
  },
  {
    step: 'defer',
    phase: 'after',
    invocation: 'webhook',
    left: "the job is `pending` (reopened before any undo); the failed attempt's registration or instance may remain",
    repairedBy: 'next attempt (settle)',
    repair: "the next attempt settles the failed one's leftovers first",
  },
];

/** The crash table as a Markdown table, for the README. */
export function crashTableMarkdown(rows: readonly CrashRow[] = CRASH_TABLE): string {
  const escape = (s: string) => s.replace(/\|/g, '\\|');
  return [
    '| invocation | step | stops | what is left | repaired by | how |',
    '|---|---|---|---|---|---|',
    ...rows.map(
      (r) =>
        `| ${r.invocation} | ${r.step} | ${r.phase} | ${escape(r.left)} | ${r.repairedBy} | ${escape(r.repair)} |`,
    ),
  ].join('\n');
}
