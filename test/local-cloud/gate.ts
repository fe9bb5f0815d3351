/**
 * A gate: the only way one Lambda container (one cold load of a bundle) reaches the local cloud.
 * It is a loopback reverse proxy per upstream that can be cut: from then on, every request through
 * it is held, never forwarded if it was not yet, never answered. A real kill cannot stop a promise,
 * but a container whose every request from the kill onwards is black-holed has no further effect
 * on the world, so cutting its gate is as good as killing it.
 *
 * Every gate records its calls in a causal call log whose sequence numbers come from one counter,
 * never from time, so tests count the calls that ran one after another ({@link criticalPath})
 * without timing anything.
 */
import {
  Agent,
  createServer,
  IncomingHttpHeaders,
  IncomingMessage,
  request,
  Server,
  ServerResponse,
} from 'node:http';
import { AddressInfo } from 'node:net';

/** What the gate does with one call. */
export type GateDecision = 'pass' | 'kill-before' | 'kill-after' | 'kill-in-flight';

/** One request arriving at a gate, as an interceptor sees it. */
export interface GateCall {
  /** The gate's id (one gate per container). */
  readonly gate: string;
  /** The upstream's name, a key of `startGate`'s `upstreams`. */
  readonly upstream: string;
  readonly method: string;
  /** Path and query. */
  readonly path: string;
  /** `x-amz-target` (DynamoDB, SSM, Secrets Manager), the EC2 `Action`, or `METHOD /path` (GitHub). */
  readonly target: string;
  /** The call's start in the causal log. */
  readonly seq: number;
  /** How many calls came through this gate before this one. */
  readonly index: number;
}

/** Decides, per call, whether the container lives on or dies at this call. */
export type Interceptor = (call: GateCall) => GateDecision;

/** The upstream's answer to a call, which a cut gate keeps from the container. */
export interface UpstreamAnswer {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: Buffer;
}

/** The call at which a gate's container was killed. */
export interface KilledCall extends GateCall {
  readonly decision: Exclude<GateDecision, 'pass'>;
  /**
   * `kill-in-flight` only: forwards the held request now (it lands after others moved on) and
   * resolves with the upstream's answer, which the container never sees. Forwards at most once.
   */
  landLate?(): Promise<UpstreamAnswer>;
}

export { CallLog, criticalPath, longestChain, sharedCallLog } from './call-log';
export type { CallFate, LoggedCall } from './call-log';
import { CallFate, CallLog, LoggedCall, MutableCall, sharedCallLog } from './call-log';

/** An interceptor that passes every call but the `n`-th (0-based) it sees, where it applies `decision`. */
export function killNthCall(n: number, decision: Exclude<GateDecision, 'pass'>): Interceptor {
  let seen = 0;
  return () => (seen++ === n ? decision : 'pass');
}

/** Options of {@link startGate}. */
export interface GateOptions {
  /** @default `gate-<n>` */
  readonly id?: string;
  /** @default {@link sharedCallLog} */
  readonly callLog?: CallLog;
}

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]']);
// Per hop, not end to end: the gate sends whole bodies with a length of its own.
const HOP_BY_HOP = 'connection keep-alive proxy-connection transfer-encoding upgrade te trailer expect'.split(
  ' ',
);
const running = new Set<Gate>();
let gateCount = 0;

/** Starts one gate with a loopback reverse proxy per upstream (`http://127.0.0.1:PORT` origins). */
export async function startGate(upstreams: Record<string, string>, options: GateOptions = {}): Promise<Gate> {
  const origins = Object.entries(upstreams).map(
    ([name, origin]) => [name, loopbackOrigin(name, origin)] as const,
  );
  const gate = new Gate(options.id ?? `gate-${++gateCount}`, options.callLog ?? sharedCallLog);
  running.add(gate);
  try {
    for (const [name, origin] of origins) await gate.listen(name, origin);
  } catch (e) {
    await gate.stop();
    throw e;
  }
  return gate;
}

/** Stops every gate still running (for `afterAll`). */
export async function stopAllGates(): Promise<void> {
  await Promise.all([...running].map((g) => g.stop()));
}

/** A running gate. Start one with {@link startGate}. */
export class Gate {
  /** `gate.endpoints[name]`: the `http://127.0.0.1:PORT` to give the container instead of the upstream. */
  readonly endpoints: Record<string, string> = {};
  /** Resolves with the call at which the container was killed; rejects if an interceptor threw. */
  readonly killed: Promise<KilledCall>;
  private cutNow = false;
  private stopped = false;
  private calls = 0;
  private killedCall: KilledCall | undefined;
  private interceptor: Interceptor | undefined;
  private settleKill!: { resolve(call: KilledCall): void; reject(e: unknown): void };
  private readonly servers: Server[] = [];
  private readonly agent = new Agent({ keepAlive: true });

  /** @internal use {@link startGate} */
  constructor(
    readonly id: string,
    readonly callLog: CallLog,
  ) {
    this.killed = new Promise<KilledCall>((resolve, reject) => (this.settleKill = { resolve, reject }));
    // Whoever does not await it must not see an unhandled rejection.
    this.killed.catch(() => undefined);
  }

  /** True once the gate is cut: nothing more goes through. */
  get isCut(): boolean {
    return this.cutNow;
  }

  /** The call the container was killed at, if it was. */
  get kill(): KilledCall | undefined {
    return this.killedCall;
  }

  /** This gate's calls in the log. */
  loggedCalls(): LoggedCall[] {
    return this.callLog.of(this.id);
  }

  /** Holds every request from now on, including those waiting for their upstream's answer. */
  cut(): void {
    this.cutNow = true;
  }

  /** Sets (or, with undefined, clears) the interceptor of the calls to come; returns {@link killed}. */
  intercept(fn: Interceptor | undefined): Promise<KilledCall> {
    this.interceptor = fn;
    return this.killed;
  }

  /** Closes the proxies and destroys every socket, held ones included, so the process can exit. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = this.cutNow = true;
    running.delete(this);
    this.agent.destroy();
    const closing = this.servers.map((server) => new Promise((resolve) => server.close(resolve)));
    for (const server of this.servers) server.closeAllConnections();
    await Promise.all(closing);
  }

  /** @internal Starts the proxy of one upstream. */
  async listen(name: string, origin: URL): Promise<void> {
    const server = createServer((req, res) => this.onRequest(name, origin, req, res));
    // Longer than any pause in a test, so a client never reuses a socket the gate is closing.
    server.keepAliveTimeout = 65_000;
    this.servers.push(server);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    this.endpoints[name] = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }

  private onRequest(upstream: string, origin: URL, req: IncomingMessage, res: ServerResponse): void {
    const logged = this.callLog.arrive(this.id, upstream);
    res.on('error', () => undefined);
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('error', () => undefined);
    req.on('end', () => {
      const whole = { method: req.method ?? 'GET', path: req.url ?? '/', headers: req.headers };
      this.route(upstream, { ...whole, body: Buffer.concat(chunks) }, res, logged, origin);
    });
  }

  private route(
    upstream: string,
    whole: WholeRequest,
    res: ServerResponse,
    logged: MutableCall,
    origin: URL,
  ) {
    const { method, path } = whole;
    logged.target = targetOf(whole);
    const call: GateCall = {
      gate: this.id,
      upstream,
      method,
      path,
      target: logged.target,
      seq: logged.startSeq,
      index: this.calls++,
    };
    const send = () => forward(this.agent, origin, whole);
    logged.fate = 'held';
    if (this.cutNow) return;
    let decision: GateDecision;
    try {
      decision = this.interceptor?.(call) ?? 'pass';
      if (!['pass', 'kill-before', 'kill-after', 'kill-in-flight'].includes(decision)) {
        throw new Error(`interceptor returned ${JSON.stringify(decision)} for ${call.target}`);
      }
    } catch (e) {
      // A broken interceptor fails the test loudly, and the container does nothing more meanwhile.
      this.cut();
      this.settleKill.reject(e);
      return;
    }
    switch (decision) {
      case 'pass':
        return this.pass(send, res, logged);
      case 'kill-before':
        return this.die({ ...call, decision });
      case 'kill-after': {
        logged.fate = 'pending';
        const landed = (fate: CallFate) => () => ((logged.fate = fate), this.die({ ...call, decision }));
        return void send().then(landed('landed-unanswered'), landed('failed'));
      }
      case 'kill-in-flight': {
        let landing: Promise<UpstreamAnswer> | undefined;
        const landLate = () => {
          if (this.stopped)
            return Promise.reject(new Error(`gate ${this.id} is stopped: nothing lands late`));
          landing ??= send().then((answer) => {
            logged.fate = 'landed-late';
            return answer;
          });
          return landing;
        };
        return this.die({ ...call, decision, landLate });
      }
    }
  }

  private pass(send: () => Promise<UpstreamAnswer>, res: ServerResponse, logged: MutableCall): void {
    logged.fate = 'pending';
    send().then(
      (answer) => {
        if (this.cutNow) {
          logged.fate = 'landed-unanswered';
          return;
        }
        logged.endSeq = this.callLog.next();
        logged.fate = 'answered';
        relay(answer, res, logged);
      },
      (err: unknown) => {
        logged.fate = 'failed';
        if (this.cutNow) return;
        logged.endSeq = this.callLog.next();
        res.writeHead(502, { 'content-type': 'text/plain' });
        res.end(`gate ${this.id}: upstream unreachable: ${err instanceof Error ? err.message : String(err)}`);
      },
    );
  }

  private die(call: KilledCall): void {
    this.cut();
    if (this.killedCall) return;
    this.killedCall = call;
    this.settleKill.resolve(call);
  }
}

function loopbackOrigin(name: string, origin: string): URL {
  const url = new URL(origin);
  if (url.protocol !== 'http:' || !LOOPBACK.has(url.hostname)) {
    throw new Error(`upstream ${name}: ${origin} is not an http loopback origin (http://127.0.0.1:PORT)`);
  }
  if (url.pathname !== '/' || url.search) {
    throw new Error(
      `upstream ${name}: pass the origin only (${url.origin}); keep the path in the client's URL`,
    );
  }
  return url;
}

/** What an interceptor matches calls on. */
function targetOf({ method, path, headers, body }: WholeRequest): string {
  const amzTarget = headers['x-amz-target'];
  if (typeof amzTarget === 'string') return amzTarget;
  const url = new URL(path, 'http://gate');
  const form = String(headers['content-type'] ?? '').startsWith('application/x-www-form-urlencoded');
  const action =
    url.searchParams.get('Action') ??
    (form ? new URLSearchParams(body.toString('utf8')).get('Action') : null);
  return action ?? `${method} ${url.pathname}`;
}

function withoutHopByHop(headers: IncomingHttpHeaders): IncomingHttpHeaders {
  const out = { ...headers };
  for (const h of HOP_BY_HOP) delete out[h];
  return out;
}

/** A request as the gate read it, whole. */
interface WholeRequest {
  readonly method: string;
  readonly path: string;
  readonly headers: IncomingHttpHeaders;
  readonly body: Buffer;
}

/** Sends one request upstream and reads the whole answer. */
function forward(agent: Agent, origin: URL, whole: WholeRequest, retried = false): Promise<UpstreamAnswer> {
  const { method, path, headers, body } = whole;
  const out = { ...withoutHopByHop(headers), host: origin.host };
  const hadBody = headers['content-length'] !== undefined || headers['transfer-encoding'] !== undefined;
  if (hadBody || body.length > 0) out['content-length'] = String(body.length);
  else delete out['content-length'];
  return new Promise((resolve, reject) => {
    let answered = false;
    const req = request(
      { host: origin.hostname, port: origin.port, method, path, headers: out, agent },
      (up) => {
        answered = true;
        const chunks: Buffer[] = [];
        up.on('data', (c: Buffer) => chunks.push(c));
        up.on('end', () =>
          resolve({ status: up.statusCode ?? 502, headers: up.headers, body: Buffer.concat(chunks) }),
        );
        up.on('error', reject);
      },
    );
    req.on('error', (err: NodeJS.ErrnoException) => {
      // The upstream closed an idle keep-alive socket just as it was reused: the request never
      // reached it, so sending it again on a new socket cannot make it land twice.
      const stale = req.reusedSocket && !answered && (err.code === 'ECONNRESET' || err.code === 'EPIPE');
      if (stale && !retried) forward(agent, origin, whole, true).then(resolve, reject);
      else reject(err);
    });
    req.end(body);
  });
}

/** Relays a whole answer at once: the container gets all of it or, if the gate was cut, none. */
function relay(answer: UpstreamAnswer, res: ServerResponse, logged: MutableCall): void {
  const headers = withoutHopByHop(answer.headers);
  const bodiless = res.req.method === 'HEAD' || answer.status === 204 || answer.status === 304;
  if (!bodiless) headers['content-length'] = String(answer.body.length);
  try {
    res.writeHead(answer.status, headers);
    res.end(bodiless ? undefined : answer.body);
  } catch {
    logged.fate = 'failed';
  }
}
