/**
 * Outbound calls through an HTTP(S) proxy, on any Node.js version: agents that open each connection
 * as a `CONNECT` tunnel through the proxy (or directly, for hosts `NO_PROXY` covers), for the AWS SDK
 * clients, and a `fetch` over those agents for Octokit. Node's own `NODE_USE_ENV_PROXY` (22.21+) covers
 * the global fetch and agent only, not the SDK's own agents, and Node 20 has none of it.
 */
import * as http from 'node:http';
import * as https from 'node:https';
import type { Duplex } from 'node:stream';
import { Readable } from 'node:stream';
import * as tls from 'node:tls';
import * as zlib from 'node:zlib';
import { proxyFor, ProxySettings, redactedProxy, usesProxy } from '../core/proxy-settings';

/** A connection the proxy could not open: says which proxy, which target and what it answered. */
export class ProxyConnectError extends Error {
  constructor(
    message: string,
    readonly statusCode?: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'ProxyConnectError';
  }
}

type ConnectCallback = (error: Error | null, socket?: Duplex) => void;
type ConnectOptions = tls.ConnectionOptions & { host?: string; hostname?: string; port?: number | string };
type CreateConnection = (this: unknown, options: ConnectOptions, done: ConnectCallback) => Duplex | undefined;

/** Longest the proxy may take to answer a CONNECT. */
const CONNECT_TIMEOUT_MS = 5000;

/** Opens a tunnel to `host:port` through `proxy` and hands over the raw socket. */
function openTunnel(proxy: URL, host: string, port: number, done: ConnectCallback): void {
  const target = `${host.includes(':') ? `[${host}]` : host}:${port}`;
  const where = `proxy ${redactedProxy(proxy)}`;
  const headers: Record<string, string> = { host: target };
  if (proxy.username !== '')
    headers['proxy-authorization'] =
      `Basic ${Buffer.from(`${decodeURIComponent(proxy.username)}:${decodeURIComponent(proxy.password)}`).toString('base64')}`;
  const request = (proxy.protocol === 'https:' ? https : http).request({
    host: proxy.hostname.replace(/^\[(.*)\]$/, '$1'),
    port: Number(proxy.port) || (proxy.protocol === 'https:' ? 443 : 80),
    method: 'CONNECT',
    path: target,
    headers,
    agent: false,
    timeout: CONNECT_TIMEOUT_MS,
  });
  let settled = false;
  const finish = (error: Error | null, socket?: Duplex) => {
    if (settled) return;
    settled = true;
    done(error, socket);
  };
  request.once('connect', (response, socket, head) => {
    if (response.statusCode !== 200) {
      socket.destroy();
      finish(
        new ProxyConnectError(
          `${where} refused CONNECT ${target}: ${response.statusCode} ${response.statusMessage ?? ''}`.trim() +
            (response.statusCode === 407
              ? ' (the proxy wants credentials: http://user:password@host:port)'
              : ''),
          response.statusCode,
        ),
      );
      return;
    }
    socket.setTimeout(0);
    if (head.length > 0) socket.unshift(head);
    finish(null, socket);
  });
  request.once('timeout', () => request.destroy(new Error(`no answer in ${CONNECT_TIMEOUT_MS} ms`)));
  request.once('error', (e) =>
    finish(
      new ProxyConnectError(`${where} unreachable for CONNECT ${target}: ${e.message}`, undefined, {
        cause: e,
      }),
    ),
  );
  request.end();
}

const hostOf = (options: ConnectOptions): string => String(options.host ?? options.hostname ?? 'localhost');

/** An https agent whose connections go through the proxy `NO_PROXY` does not exempt them from. */
class TunnellingHttpsAgent extends https.Agent {
  constructor(private readonly settings: ProxySettings) {
    super({ keepAlive: true, maxSockets: 50 });
  }

  createConnection(options: ConnectOptions, done: ConnectCallback): Duplex | undefined {
    const host = hostOf(options);
    const port = Number(options.port) || 443;
    const proxy = proxyFor(this.settings, 'https:', host, port);
    const direct = (https.Agent.prototype as unknown as { createConnection: CreateConnection })
      .createConnection;
    if (proxy === undefined) return direct.call(this, options, done);
    openTunnel(proxy, host, port, (error, socket) => {
      if (error) return done(error);
      // TLS to the target inside the tunnel: same CAs (NODE_EXTRA_CA_CERTS included), same SNI.
      done(
        null,
        tls.connect({
          ...options,
          socket,
          servername: options.servername || (isIpLiteral(host) ? undefined : host),
        }),
      );
    });
    return undefined;
  }
}

/** An http agent that tunnels too (as undici's ProxyAgent does: CONNECT for plain http targets as well). */
class TunnellingHttpAgent extends http.Agent {
  constructor(private readonly settings: ProxySettings) {
    super({ keepAlive: true, maxSockets: 50 });
  }

  createConnection(options: ConnectOptions, done: ConnectCallback): Duplex | undefined {
    const host = hostOf(options);
    const port = Number(options.port) || 80;
    const proxy = proxyFor(this.settings, 'http:', host, port);
    const direct = (http.Agent.prototype as unknown as { createConnection: CreateConnection })
      .createConnection;
    if (proxy === undefined) return direct.call(this, options, done);
    openTunnel(proxy, host, port, done);
    return undefined;
  }
}

const isIpLiteral = (host: string) => /^[\d.]+$/.test(host) || host.includes(':');

/** The agents and the fetch of the handlers' outbound calls. */
export interface OutboundNetwork {
  /** Agents for the AWS SDK's `NodeHttpHandler` (none without a proxy: the SDK's own). */
  readonly sdkAgents: { readonly httpAgent?: http.Agent; readonly httpsAgent?: https.Agent };
  /** The fetch of the GitHub client (the global fetch without a proxy). */
  readonly fetch: typeof fetch;
  /** Whether a proxy is configured. */
  readonly proxied: boolean;
}

/** The outbound network of a container: the global defaults, or proxy-aware agents and fetch. */
export function outboundNetwork(settings: ProxySettings): OutboundNetwork {
  if (!usesProxy(settings)) return { sdkAgents: {}, fetch: globalThis.fetch, proxied: false };
  const agents = { http: new TunnellingHttpAgent(settings), https: new TunnellingHttpsAgent(settings) };
  return {
    sdkAgents: { httpAgent: agents.http, httpsAgent: agents.https },
    fetch: agentFetch(agents),
    proxied: true,
  };
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);
const MAX_REDIRECTS = 20;

/**
 * The part of `fetch` Octokit uses (string or URL input; method, headers, string or byte body, signal,
 * redirect), over node:http(s) with the given agents. Answers a standard `Response`.
 */
export function agentFetch(agents: { http: http.Agent; https: https.Agent }): typeof fetch {
  return async function fetchThroughAgents(input, init = {}) {
    if (typeof input !== 'string' && !(input instanceof URL))
      throw new TypeError('agentFetch takes a URL or a string, not a Request');
    let url = new URL(String(input));
    let method = (init.method ?? 'GET').toUpperCase();
    let body = bodyBytes(init.body);
    const headers = new Headers(init.headers);
    for (let redirects = 0; ; redirects++) {
      const response = await send(url, method, headers, body, agents, init.signal ?? undefined);
      const location = response.headers.location;
      if (!REDIRECTS.has(response.statusCode ?? 0) || location === undefined || init.redirect === 'manual')
        return toResponse(response, url);
      response.resume();
      if (init.redirect === 'error')
        throw new TypeError(`redirect to ${location} refused (redirect: "error")`);
      if (redirects === MAX_REDIRECTS)
        throw new TypeError(`more than ${MAX_REDIRECTS} redirects from ${url}`);
      const next = new URL(location, url);
      if (
        response.statusCode === 303 ||
        ((response.statusCode === 301 || response.statusCode === 302) && method === 'POST')
      ) {
        method = method === 'HEAD' ? 'HEAD' : 'GET';
        body = undefined;
        headers.delete('content-type');
        headers.delete('content-length');
      }
      // Credentials stay with the origin they were meant for, as in fetch.
      if (next.origin !== url.origin) headers.delete('authorization');
      url = next;
    }
  };
}

function bodyBytes(body: unknown): Buffer | undefined {
  if (body === undefined || body === null) return undefined;
  if (typeof body === 'string') return Buffer.from(body);
  if (body instanceof Uint8Array) return Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  if (body instanceof ArrayBuffer) return Buffer.from(body);
  throw new TypeError('agentFetch sends string or byte bodies only');
}

function send(
  url: URL,
  method: string,
  headers: Headers,
  body: Buffer | undefined,
  agents: { http: http.Agent; https: https.Agent },
  signal: AbortSignal | undefined,
): Promise<http.IncomingMessage> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const outgoing: Record<string, string> = {};
    headers.forEach((value, name) => (outgoing[name] = value));
    if (body !== undefined) outgoing['content-length'] = String(body.length);
    outgoing['accept-encoding'] ??= 'gzip, deflate, br';
    const request = (url.protocol === 'https:' ? https : http).request(url, {
      method,
      headers: outgoing,
      agent: url.protocol === 'https:' ? agents.https : agents.http,
      signal,
    });
    request.once('response', resolve);
    request.once('error', (e) =>
      reject(signal?.aborted ? signal.reason : new TypeError('fetch failed', { cause: e })),
    );
    request.end(body);
  });
}

function toResponse(message: http.IncomingMessage, url: URL): Response {
  const status = message.statusCode ?? 500;
  const headers = new Headers();
  for (let i = 0; i < message.rawHeaders.length; i += 2)
    headers.append(message.rawHeaders[i], message.rawHeaders[i + 1]);
  const encoding = (message.headers['content-encoding'] ?? '').toLowerCase();
  const decoded: Readable =
    encoding === 'gzip' || encoding === 'x-gzip'
      ? message.pipe(zlib.createGunzip())
      : encoding === 'deflate'
        ? message.pipe(zlib.createInflate())
        : encoding === 'br'
          ? message.pipe(zlib.createBrotliDecompress())
          : message;
  if (decoded !== message) {
    message.once('error', (e) => decoded.destroy(e));
    headers.delete('content-encoding');
    headers.delete('content-length');
  }
  const empty = status === 204 || status === 205 || status === 304;
  if (empty) message.resume();
  const response = new Response(empty ? null : (Readable.toWeb(decoded) as ReadableStream<Uint8Array>), {
    status,
    statusText: message.statusMessage,
    headers,
  });
  Object.defineProperty(response, 'url', { value: url.toString() });
  return response;
}
