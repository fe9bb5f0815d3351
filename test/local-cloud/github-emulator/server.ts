// The HTTP core of the GitHub emulator: routing, GHES path prefix, faults, authentication (app JWT
// or installation token), installation scope and permission checks, GitHub-shaped error bodies and
// headers, the call log, hung requests, and asynchronous redeliveries. The test-facing API is
// ../github-emulator.ts.
import { randomBytes, randomUUID } from 'node:crypto';
import {
  createServer,
  STATUS_CODES,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { APP_HANDLERS, deliveryJson } from './app-handlers';
import type { Fault, FaultPlan } from './faults';
import { HttpError, type Caller, type Handler, type Reply } from './http';
import { JOB_HANDLERS } from './job-handlers';
import type { JobScheduler } from './jobs';
import { verifyAppJwt } from './jwt';
import { matchRoute, type RouteMatch, type RouteName, type RouteSpec } from './routes';
import { RUN_HANDLERS } from './run-handlers';
import { RUNNER_HANDLERS } from './runner-handlers';
import { isoSeconds, scopeKey, type EmulatedDelivery, type EmulatorState } from './state';

/** One request as the emulator saw it. */
export interface RecordedCall {
  /** Route name, or `unknown` for a 404 on an unserved path. */
  readonly route: RouteName | 'unknown';
  /** HTTP method. */
  readonly method: string;
  /** Path relative to `apiUrl` (no `/api/v3`, no query). */
  readonly path: string;
  /** Status answered; 0 for a request held unanswered by a hang fault. */
  readonly status: number;
  /** Arrival time, epoch ms (real clock). */
  readonly at: number;
  /** Credential presented: a JWT-shaped bearer, another token, or none. */
  readonly credential: 'jwt' | 'token' | 'none';
  /** Whether the answer was an injected fault. */
  readonly injected: boolean;
}

/** Decides the status code a redelivery attempt gets; receives the delivery as the API lists it. */
export type RedeliveryHandler = (delivery: Record<string, unknown>) => number | Promise<number>;

/** Server settings fixed at start. */
export interface ServerOptions {
  /** Serve under `/api/v3`, GHES style. */
  readonly ghes: boolean;
  /** Reported in `x-github-enterprise-version` and docs links. */
  readonly ghesVersion: string;
  /** Lifetime of new installation tokens. */
  readonly tokenTtlSeconds: number;
}

const HANDLERS: Partial<Record<RouteName, Handler>> = {
  ...APP_HANDLERS,
  ...RUNNER_HANDLERS,
  ...JOB_HANDLERS,
  ...RUN_HANDLERS,
};
const GHES_PREFIX = '/api/v3';
const looksLikeJwt = (credential: string): boolean => /^[\w-]+\.[\w-]+\.[\w-]+$/.test(credential);

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

/** The emulator's HTTP server; owned by `GitHubEmulator`. */
export class ApiServer {
  /** Every request served, oldest first. */
  readonly calls: RecordedCall[] = [];
  /** Accepted app JWTs: total, without `jti`, and byte-identical to an earlier one. */
  readonly jwtCounts = { accepted: 0, withoutJti: 0, duplicates: 0 };
  /** What redelivery attempts get. */
  redeliveryHandler: RedeliveryHandler = () => 200;
  /** Offset of the server clock from the real one. */
  clockOffsetMs = 0;
  private readonly server: Server;
  private readonly seenJwts = new Set<string>();
  private readonly pendingRedeliveries = new Set<Promise<void>>();
  private readonly hung = new Set<ServerResponse>();
  private port = 0;

  /**
   * @param state the emulated GitHub's data.
   * @param faults faults to inject.
   * @param options fixed settings.
   * @param scheduler the job scheduler, handed to routes that create jobs.
   */
  constructor(
    private readonly state: EmulatorState,
    private readonly faults: FaultPlan,
    private readonly options: ServerOptions,
    private readonly scheduler: JobScheduler,
  ) {
    this.server = createServer((req, res) => {
      this.handle(req, res).catch((err: unknown) => {
        // A bug in the emulator: answer rather than hang the client, and say so.
        console.error('GitHubEmulator internal error', err);
        if (!res.headersSent) this.send(res, { status: 500, body: { message: String(err) } }, randomUUID());
      });
    });
  }

  /** Listens on an ephemeral 127.0.0.1 port. */
  async listen(): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(0, '127.0.0.1', () => resolve());
    });
    this.port = (this.server.address() as AddressInfo).port;
  }

  /**
   * Waits for pending redeliveries, then closes the server, its kept-alive connections and the
   * sockets of hung requests (their clients see the connection reset).
   */
  async close(): Promise<void> {
    await this.whenIdle();
    for (const res of this.hung) res.destroy();
    await new Promise<void>((resolve, reject) => {
      this.server.close((err) => (err ? reject(err) : resolve()));
      this.server.closeAllConnections();
    });
  }

  /** Origin, e.g. `http://127.0.0.1:41234`. */
  get webUrl(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** API root: the origin, or the origin plus `/api/v3` on GHES. */
  get apiUrl(): string {
    return this.options.ghes ? `${this.webUrl}${GHES_PREFIX}` : this.webUrl;
  }

  /** Requests held unanswered by a hang fault whose clients have not gone away yet. */
  get hungRequests(): number {
    return this.hung.size;
  }

  /** Server clock, epoch ms. */
  nowMs(): number {
    return Date.now() + this.clockOffsetMs;
  }

  /** Resolves once every redelivery attempt started so far has been recorded. */
  async whenIdle(): Promise<void> {
    while (this.pendingRedeliveries.size > 0) await Promise.all([...this.pendingRedeliveries]);
  }

  private docsBase(): string {
    const version = this.options.ghesVersion.split('.').slice(0, 2).join('.');
    return this.options.ghes
      ? `https://docs.github.com/enterprise-server@${version}`
      : 'https://docs.github.com';
  }

  // The API-relative path, or undefined when a GHES emulator is asked for something outside /api/v3.
  private apiPath(pathname: string): string | undefined {
    if (!this.options.ghes) return pathname;
    if (pathname !== GHES_PREFIX && !pathname.startsWith(`${GHES_PREFIX}/`)) return undefined;
    return pathname.slice(GHES_PREFIX.length) || '/';
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const at = Date.now();
    const hex = (n: number) => randomBytes(n).toString('hex').toUpperCase();
    const requestId = `${hex(2)}:${hex(3)}:${hex(4)}:${hex(4)}:${hex(4)}`;
    const method = req.method ?? 'GET';
    const url = new URL(req.url ?? '/', this.webUrl);
    const raw = await readBody(req);
    if (this.faults.latencyMs > 0) await sleep(this.faults.latencyMs);
    const path = this.apiPath(url.pathname);
    const match = path === undefined ? undefined : matchRoute(method, path);
    const authorization = req.headers.authorization ?? '';
    const presented = authorization.replace(/^\S+\s+/, '');
    // Classify by what was issued first: the long token format is dotted too, so shape alone lies.
    const credential =
      authorization === ''
        ? 'none'
        : this.state.tokens.has(presented) || !looksLikeJwt(presented)
          ? 'token'
          : 'jwt';
    const fault = match ? this.faults.take(match.spec.name) : undefined;
    const record = (status: number) =>
      this.calls.push({
        route: match?.spec.name ?? 'unknown',
        method,
        path: path ?? url.pathname,
        status,
        at,
        credential,
        injected: fault !== undefined,
      });
    if (fault?.kind === 'hang') {
      // Received, never answered: held until the client aborts or the server stops.
      record(0);
      this.hung.add(res);
      res.once('close', () => this.hung.delete(res));
      return;
    }
    let reply: Reply;
    if (!match) reply = this.errorReply(new HttpError(404, 'Not Found'), '/rest');
    else if (fault) reply = this.faultReply(fault, requestId);
    else reply = await this.serve(match, url, raw, authorization);
    const accepted = match?.spec.permission;
    if (accepted) {
      // GitHub tells integrators on every answer which permission the route accepts.
      const header = { 'x-accepted-github-permissions': `${accepted.name}=${accepted.level}` };
      reply = { ...reply, headers: { ...header, ...reply.headers } };
    }
    record(reply.status);
    this.send(res, reply, requestId);
  }

  private async serve(match: RouteMatch, url: URL, raw: string, authorization: string): Promise<Reply> {
    const { spec, params } = match;
    try {
      const caller = this.authenticate(spec, authorization);
      this.authorize(spec, params, caller);
      let body: unknown;
      if (raw.trim() !== '') {
        try {
          body = JSON.parse(raw);
        } catch {
          throw new HttpError(400, 'Problems parsing JSON');
        }
      }
      const handler = HANDLERS[spec.name];
      if (!handler) throw new Error(`no handler for ${spec.name}`);
      return await handler({
        params,
        query: url.searchParams,
        body,
        caller,
        state: this.state,
        nowMs: this.nowMs(),
        apiUrl: this.apiUrl,
        webUrl: this.webUrl,
        tokenTtlSeconds: this.options.tokenTtlSeconds,
        redeliveryWindowDays: this.options.ghes ? 7 : 3,
        scheduleRedelivery: (d) => this.scheduleRedelivery(d),
        scheduler: this.scheduler,
      });
    } catch (err) {
      if (!(err instanceof HttpError)) throw err;
      // Authentication failures point at the REST root, everything else at the route's page.
      return this.errorReply(err, err.status === 401 ? '/rest' : spec.docPath);
    }
  }

  private authenticate(spec: RouteSpec, authorization: string): Caller {
    // Octokit sends `bearer <jwt>` to app routes and `token <token>` elsewhere; GitHub takes both.
    const m = /^(bearer|token)\s+(\S+)\s*$/i.exec(authorization);
    if (!m) throw new HttpError(401, 'Requires authentication');
    const credential = m[2];
    if (spec.auth === 'installation') {
      const token = this.state.tokens.get(credential);
      const installation = token && this.state.installations.get(token.installationId);
      if (!token || !installation || token.revoked || token.expiresAtMs <= this.nowMs()) {
        throw new HttpError(401, 'Bad credentials');
      }
      return { kind: 'installation', installation, token };
    }
    const verdict = verifyAppJwt(
      credential,
      (iss) => {
        const app = this.state.findAppByIssuer(iss);
        return app && { appId: app.id, publicKeys: app.publicKeys };
      },
      Math.floor(this.nowMs() / 1000),
    );
    if (!verdict.ok) throw new HttpError(401, verdict.message);
    this.jwtCounts.accepted++;
    if (!verdict.hasJti) this.jwtCounts.withoutJti++;
    if (this.seenJwts.has(credential)) this.jwtCounts.duplicates++;
    this.seenJwts.add(credential);
    const app = this.state.apps.get(verdict.appId);
    if (!app) throw new HttpError(401, 'A JSON web token could not be decoded');
    return { kind: 'app', app };
  }

  // An installation token reaches a repository only if its installation (and its own narrowing)
  // covers it, and an organization only if installed there; then the route's permission decides.
  private authorize(spec: RouteSpec, params: Readonly<Record<string, string>>, caller: Caller): void {
    if (caller.kind !== 'installation') return;
    const { installation, token } = caller;
    if (params.owner !== undefined && params.repo !== undefined) {
      const full = `${params.owner}/${params.repo}`;
      const covered =
        this.state.installationCoversRepo(installation, full) &&
        (token.repositories === undefined || token.repositories.includes(scopeKey(full)));
      // A private repository the token cannot see does not exist, as far as GitHub says.
      if (!covered) throw new HttpError(404, 'Not Found');
    }
    const permission = spec.permission;
    const forbidden = () =>
      new HttpError(403, 'Resource not accessible by integration', {
        headers: permission
          ? { 'x-accepted-github-permissions': `${permission.name}=${permission.level}` }
          : {},
      });
    if (params.org !== undefined && scopeKey(params.org) !== scopeKey(installation.account))
      throw forbidden();
    if (permission) {
      const granted = token.permissions[permission.name];
      if (!(granted === 'write' || (granted === 'read' && permission.level === 'read'))) throw forbidden();
    }
  }

  private errorReply(err: HttpError, docPath: string): Reply {
    return {
      status: err.status,
      headers: err.extra.headers,
      body: {
        message: err.message,
        documentation_url: `${this.docsBase()}${docPath}`,
        status: String(err.status),
      },
    };
  }

  private faultReply(fault: Exclude<Fault, { kind: 'hang' }>, requestId: string): Reply {
    if (fault.kind === 'server-error') {
      return this.errorReply(
        new HttpError(fault.status, STATUS_CODES[fault.status] ?? 'Server Error'),
        '/rest',
      );
    }
    const headers: Record<string, string> = {
      // A secondary limit leaves the primary budget alone: remaining > 0 is how clients tell them apart.
      'x-ratelimit-limit': '5000',
      'x-ratelimit-remaining': '4999',
      'x-ratelimit-used': '1',
      'x-ratelimit-reset': String(Math.floor(this.nowMs() / 1000) + 3600),
      'x-ratelimit-resource': 'core',
      ...(fault.retryAfterSeconds !== undefined ? { 'retry-after': String(fault.retryAfterSeconds) } : {}),
    };
    const message =
      'You have exceeded a secondary rate limit. Please wait a few minutes before you try again. ' +
      `If you reach out to GitHub Support for help, please include the request ID ${requestId}.`;
    return this.errorReply(
      new HttpError(fault.status, message, { headers }),
      '/rest/using-the-rest-api/rate-limits-for-the-rest-api#about-secondary-rate-limits',
    );
  }

  private send(res: ServerResponse, reply: Reply, requestId: string): void {
    const headers: Record<string, string> = {
      date: new Date(this.nowMs()).toUTCString(),
      'x-github-request-id': requestId,
      'x-github-api-version-selected': '2022-11-28',
      'x-github-media-type': 'github.v3; format=json',
      ...(this.options.ghes ? { 'x-github-enterprise-version': this.options.ghesVersion } : {}),
      ...reply.headers,
    };
    if (reply.body === undefined) {
      res.writeHead(reply.status, headers).end();
      return;
    }
    const payload = JSON.stringify(reply.body);
    res
      .writeHead(reply.status, {
        ...headers,
        'content-type': 'application/json; charset=utf-8',
        'content-length': String(Buffer.byteLength(payload)),
      })
      .end(payload);
  }

  // GitHub answers 202 and delivers later; the attempt joins the log as a redelivery with the same
  // guid once the handler has decided its status.
  private scheduleRedelivery(delivery: EmulatedDelivery): void {
    const attempt = (async () => {
      await sleep(0);
      const started = this.nowMs();
      let statusCode: number;
      try {
        statusCode = await this.redeliveryHandler(deliveryJson(delivery));
      } catch {
        statusCode = 0; // the receiver could not be reached
      }
      const { id: _id, ...fields } = delivery;
      this.state.addDelivery({
        ...fields,
        statusCode,
        redelivery: true,
        deliveredAt: isoSeconds(started),
        duration: (this.nowMs() - started) / 1000,
      });
    })();
    this.pendingRedeliveries.add(attempt);
    void attempt.finally(() => this.pendingRedeliveries.delete(attempt));
  }
}
