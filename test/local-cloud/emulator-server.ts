// The plumbing the local AWS emulators share: a loopback HTTP server, a request body reader, and a
// fault plan (one-shot failures, a seeded throttle, added latency). Each emulator owns the wire
// protocol; this file owns nothing AWS-specific.
import { createServer, IncomingMessage, Server, ServerResponse } from 'http';
import { AddressInfo } from 'net';

/** A request handler that answers asynchronously; a thrown error becomes a bare 500. */
export type EmulatorHandler = (req: IncomingMessage, body: string, res: ServerResponse) => Promise<void>;

/** A running loopback server: where to reach it and how to stop it. */
export interface LocalServer {
  /** `http://127.0.0.1:PORT`, ready to pass as an SDK client's `endpoint`. */
  readonly endpoint: string;
  /** Stops accepting connections and closes the idle keep-alive sockets the SDK leaves open. */
  close(): Promise<void>;
}

/** Listens on 127.0.0.1 on a free port chosen by the OS, so parallel Jest workers never collide. */
export async function startLocalServer(handler: EmulatorHandler): Promise<LocalServer> {
  const server: Server = createServer((req, res) => {
    readBody(req)
      .then((body) => handler(req, body, res))
      .catch((err: unknown) => {
        // An emulator bug must show up as a failing test, not as a hung request.
        if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
        res.end(`emulator error: ${err instanceof Error ? err.stack : String(err)}`);
      });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        // The SDK keeps sockets alive; without this, close() waits for them to time out.
        server.closeAllConnections();
      }),
  };
}

/** Reads a whole request body as UTF-8 text. */
export function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

/**
 * mulberry32: a tiny seeded PRNG. Tests that throttle a fraction of calls must be reproducible,
 * so randomness in the emulators never comes from `Math.random`.
 */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A fault the plan decided to inject: the error code (as the service spells it) and HTTP status. */
export interface InjectedFault {
  readonly code: string;
  readonly status: number;
}

/**
 * Which calls fail, and how. `failNext` faults are consumed first-in first-out per operation
 * (`'*'` matches any operation); after them, a seeded fraction of calls is throttled.
 */
export class FaultPlan {
  private readonly queued = new Map<string, InjectedFault[]>();
  private throttleRate = 0;
  private random: () => number;
  /** Milliseconds every answer is delayed by, to model a slow region or a cold endpoint. */
  latencyMs = 0;

  /**
   * @param throttle the fault a throttled call answers (each service names throttling differently)
   * @param seed the PRNG seed for the throttle
   */
  constructor(
    private readonly throttle: InjectedFault,
    seed = 1,
  ) {
    this.random = seededRandom(seed);
  }

  /** Queues `count` failures for `operation` (or `'*'`). */
  failNext(operation: string, count: number, fault: InjectedFault): void {
    const list = this.queued.get(operation) ?? [];
    for (let i = 0; i < count; i++) list.push(fault);
    this.queued.set(operation, list);
  }

  /** Throttles `fraction` (0..1) of calls from now on; `seed` restarts the PRNG for reproducibility. */
  setThrottleRate(fraction: number, seed?: number): void {
    if (!(fraction >= 0 && fraction <= 1))
      throw new Error(`throttle fraction must be in [0, 1], got ${fraction}`);
    this.throttleRate = fraction;
    if (seed !== undefined) this.random = seededRandom(seed);
  }

  /** Decides whether this call of `operation` fails; consumes a queued fault if one applies. */
  next(operation: string): InjectedFault | undefined {
    for (const key of [operation, '*']) {
      const list = this.queued.get(key);
      if (list && list.length > 0) return list.shift();
    }
    // Draw only when throttling is on, so turning it on later gives the same sequence for a seed.
    if (this.throttleRate > 0 && this.random() < this.throttleRate) return this.throttle;
    return undefined;
  }

  /** Forgets queued faults and turns throttling and latency off. */
  reset(): void {
    this.queued.clear();
    this.throttleRate = 0;
    this.latencyMs = 0;
  }
}

/** Waits `ms` milliseconds (no timer at all for 0, so the fast path stays synchronous-ish). */
export function delay(ms: number): Promise<void> {
  return ms > 0 ? new Promise((resolve) => setTimeout(resolve, ms)) : Promise.resolve();
}
