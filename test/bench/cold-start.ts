/**
 * Cold start of the webhook: fresh Node processes, each loading the built bundle and answering one
 * delivery against the local cloud (which runs in this process), against an empty Node start in the
 * same rounds. A `completed` delivery (most deliveries launch nothing) and a `queued` one (which
 * loads the launch path's clients on first use and launches) are measured in turn with the empty
 * start, round after round, so that a drift of the machine's speed moves all three alike.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadHandler } from '../local-cloud/handlers';
import { apiGatewayEvent, startLocalCloud, workflowJobPayload } from '../local-cloud/local-cloud';

/** One kind of delivery's cold start, medians over the rounds. */
export interface ColdStartFigure {
  /**
   * Loading code: the bundle's `require`, and the files beside it that the first delivery requires
   * (the launch path's clients, for a launch). Module evaluation only, no remote call.
   */
  readonly coldInitMs: number;
  /** Of which the bundle's own load. */
  readonly loadMs: number;
  /** `coldInitMs` over the same round's empty Node start, median of the rounds' ratios. */
  readonly ratioToEmptyNode: number;
  /** The code those loads read: `index.js` and the chunks required beside it. */
  readonly codeBytes: number;
  /** From the process's first line of script to the first delivery's answer: load, first calls (secrets, table, launch). */
  readonly firstAnswerMs: number;
}

/** The cold-start figures of one run. */
export interface ColdStartFigures {
  readonly rounds: number;
  /** An empty Node start (the same script with no bundle), spawn to exit. */
  readonly emptyNodeMs: number;
  readonly completed: ColdStartFigure;
  readonly queued: ColdStartFigure;
  /** Every file of the bundle's directory: what the Lambda ships. */
  readonly bundleBytes: number;
}

// The child: times its own loads and first answer, reports on fd 3 (the handlers log to stdout).
// Time spent in the bundle's require of a file beside it ('./launch-clients.js') is loading too.
const CHILD = `const t0=process.hrtime.bigint();const ms=()=>Number(process.hrtime.bigint()-t0)/1e6;
const fs=require('fs');const M=require('module');const [bundle,eventFile]=process.argv.slice(1);
if(!bundle){fs.writeSync(3,'{}');process.exit(0)}
let lazyMs=0,depth=0;const files=new Set();const req=M.prototype.require;M.prototype.require=function(id){
if(!id.startsWith('./'))return req.call(this,id);files.add(id);const s=ms();depth++;
try{return req.call(this,id)}finally{if(--depth===0)lazyMs+=ms()-s}};
const {handler}=require(bundle);const loadMs=ms();lazyMs=0;
handler(JSON.parse(fs.readFileSync(eventFile,'utf8'))).then((r)=>{
fs.writeSync(3,JSON.stringify({loadMs,coldInitMs:loadMs+lazyMs,firstAnswerMs:ms(),files:[...files],statusCode:r.statusCode,body:r.body}));process.exit(0)},
(e)=>{fs.writeSync(3,JSON.stringify({error:String(e&&e.stack||e)}));process.exit(1)});`;

interface ChildRun {
  readonly processMs: number;
  readonly loadMs?: number;
  readonly coldInitMs?: number;
  readonly firstAnswerMs?: number;
  /** The files beside the bundle it required, as named in the require. */
  readonly files?: string[];
  readonly statusCode?: number;
  readonly body?: string;
  readonly error?: string;
}

/** Runs the child once; the local cloud keeps serving meanwhile (the spawn is asynchronous). */
function runChild(env: Record<string, string>, args: string[]): Promise<ChildRun> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(process.execPath, ['-e', CHILD, ...args], {
      env: { PATH: process.env.PATH ?? '', ...env },
      stdio: ['ignore', 'ignore', 'inherit', 'pipe'],
    });
    let report = '';
    child.stdio[3]?.on('data', (chunk: Buffer) => (report += chunk.toString('utf8')));
    child.on('error', reject);
    child.on('close', () => {
      const processMs = performance.now() - t0;
      try {
        resolve({ processMs, ...(JSON.parse(report) as Omit<ChildRun, 'processMs'>) });
      } catch {
        reject(new Error(`cold-start child reported nothing (exit after ${Math.round(processMs)} ms)`));
      }
    });
  });
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const round = (x: number, digits = 1) => Math.round(x * 10 ** digits) / 10 ** digits;

/**
 * `rounds` rounds of: an empty Node start, a fresh process answering a `completed` delivery (for a
 * job launched before, so its record is there), and one answering a `queued` delivery (a launch).
 * `bundleDir` is the directory of the webhook bundle to measure (another build's, to compare).
 */
export async function coldStart(bundleDir: string, rounds = 9): Promise<ColdStartFigures> {
  const bundle = join(bundleDir, 'index.js');
  if (!existsSync(bundle)) throw new Error(`${bundle} is missing: run \`npm run build\` first`);
  const cloud = await startLocalCloud();
  const dir = mkdtempSync(join(tmpdir(), 'cold-start-'));
  try {
    // Warm, in this process: records the jobs whose completed deliveries the children answer.
    const warm = loadHandler('webhook', cloud.env);
    const runs = { empty: [] as ChildRun[], completed: [] as ChildRun[], queued: [] as ChildRun[] };
    const deliver = async (name: string, payload: Record<string, unknown>) => {
      const file = join(dir, `${name}.json`);
      writeFileSync(file, JSON.stringify(await apiGatewayEvent(cloud, payload)));
      const run = await runChild(cloud.env, [bundle, file]);
      if (run.error || run.statusCode !== 200) {
        throw new Error(`cold start (${name}): ${run.error ?? `${run.statusCode} ${run.body}`}`);
      }
      return run;
    };
    for (let i = 0; i < rounds + 1; i++) {
      const done = 1_000 + i;
      const answer = await warm(await apiGatewayEvent(cloud, workflowJobPayload({ jobId: done })));
      if (answer.statusCode !== 200) throw new Error(`cold start setup: ${answer.statusCode} ${answer.body}`);
      const empty = await runChild(cloud.env, []);
      const completed = await deliver(
        `completed-${i}`,
        workflowJobPayload({ jobId: done, action: 'completed', conclusion: 'success' }),
      );
      const queued = await deliver(`queued-${i}`, workflowJobPayload({ jobId: 2_000 + i }));
      // The first round warms the file system cache and is not counted.
      if (i === 0) continue;
      runs.empty.push(empty);
      runs.completed.push(completed);
      runs.queued.push(queued);
    }
    const figure = (kind: 'completed' | 'queued'): ColdStartFigure => ({
      coldInitMs: round(median(runs[kind].map((r) => r.coldInitMs ?? NaN))),
      loadMs: round(median(runs[kind].map((r) => r.loadMs ?? NaN))),
      ratioToEmptyNode: round(
        median(runs[kind].map((r, i) => (r.coldInitMs ?? NaN) / runs.empty[i].processMs)),
        2,
      ),
      firstAnswerMs: round(median(runs[kind].map((r) => r.firstAnswerMs ?? NaN))),
      codeBytes: bytes(['index.js', ...(runs[kind][0].files ?? [])]),
    });
    const bytes = (files: string[]) => files.reduce((n, f) => n + statSync(join(bundleDir, f)).size, 0);
    return {
      rounds,
      emptyNodeMs: round(median(runs.empty.map((r) => r.processMs))),
      completed: figure('completed'),
      queued: figure('queued'),
      bundleBytes: bytes(readdirSync(bundleDir)),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
    await cloud.stop();
  }
}

/** The readable lines of the cold-start figures. */
export function coldStartLines(c: ColdStartFigures): string[] {
  const line = (kind: 'completed' | 'queued') => {
    const f = c[kind];
    return (
      `  cold init, ${kind} delivery: ${f.coldInitMs} ms loading ${(f.codeBytes / 1024).toFixed(0)} KiB of code ` +
      `(index.js and its static chunks ${f.loadMs} ms), ${f.ratioToEmptyNode}× the empty Node start; ` +
      `first answer ${f.firstAnswerMs} ms after the process started`
    );
  };
  return [
    `  cold start (fresh Node processes, median of ${c.rounds}): empty Node start ${c.emptyNodeMs} ms; ` +
      `the webhook's code ${(c.bundleBytes / 1024).toFixed(0)} KiB in all`,
    line('completed'),
    line('queued'),
  ];
}
