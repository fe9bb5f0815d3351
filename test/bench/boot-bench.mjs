// The boot script's own overhead: from its first line to the moment it execs the runner, read from
// its timing marks (MARK name=runner-start elapsed_ms=...), over repeated sandboxed boots (see
// test/image/sandbox.js: IMDSv2 stand-in, dynalite behind a SigV4 check, stand-in runner).
//
//   node test/bench/boot-bench.mjs [runs]      prints {"bootOverheadMs":…,"runs":…,…}
//
// On EC2 the same path also waits for cloud-init to reach user scripts, which this does not count.

/**
 * Boots the sandboxed runner `runs` times (after one unmeasured warm-up) and returns the median of
 * the script's start-to-runner-exec time.
 * @param {{ runs?: number }} [options]
 * @returns {Promise<{ medianMs: number, runs: number, minMs: number, maxMs: number, samplesMs: number[] }>}
 */
export async function measureBootOverheadMs(options = {}) {
  const runs = options.runs ?? 10;
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const { default: sandbox } = await import('../image/sandbox.js');
  const cloud = await sandbox.startCloud();
  const samplesMs = [];
  try {
    for (let i = 0; i <= runs; i++) {
      const r = await sandbox.runBoot(cloud, { jitConfig: `bench-jit-config-${i}` });
      r.cleanup();
      const start = r.marks['runner-start'];
      if (r.exitCode !== 0 || !start) throw new Error(`sandboxed boot ${i} failed:\n${r.output}`);
      if (i > 0) samplesMs.push(start.elapsedMs); // the first boot warms caches and is not counted
    }
  } finally {
    await cloud.close();
  }
  const sorted = [...samplesMs].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  const medianMs = sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
  return { medianMs, runs, minMs: sorted[0], maxMs: sorted[sorted.length - 1], samplesMs };
}

// Run directly: print the figure. (No top-level await: test/bench/run.mjs bundles to CommonJS.)
if (process.argv[1]?.endsWith('boot-bench.mjs')) {
  measureBootOverheadMs({ runs: Number(process.argv[2] ?? 10) }).then(
    (result) => console.log(JSON.stringify({ bootOverheadMs: result.medianMs, ...result })),
    (error) => {
      console.error(error);
      process.exitCode = 1;
    },
  );
}
