/**
 * A loopback HTTP proxy that delays every request and logs when each started and ended. Put in
 * front of dynalite (which has no fault injection of its own), it lets the benchmark count the
 * DynamoDB calls of a request and see which of them ran one after another.
 */
import { createServer, request as httpRequest, Server } from 'node:http';
import { AddressInfo } from 'node:net';

/** One proxied call. */
export interface ProxiedCall {
  /** `X-Amz-Target`, e.g. `DynamoDB_20120810.PutItem`. */
  readonly target: string;
  readonly start: number;
  end: number;
}

/** A running proxy. */
export interface LatencyProxy {
  readonly endpoint: string;
  readonly calls: ProxiedCall[];
  latencyMs: number;
  stop(): Promise<void>;
}

/** Starts a proxy to `target` (an http://127.0.0.1:PORT origin). */
export async function startLatencyProxy(target: string): Promise<LatencyProxy> {
  const upstream = new URL(target);
  const proxy: { calls: ProxiedCall[]; latencyMs: number } = { calls: [], latencyMs: 0 };
  const server: Server = createServer((req, res) => {
    const call: ProxiedCall = {
      target: String(req.headers['x-amz-target'] ?? req.url),
      start: Date.now(),
      end: 0,
    };
    proxy.calls.push(call);
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      setTimeout(() => {
        const out = httpRequest(
          {
            host: upstream.hostname,
            port: upstream.port,
            method: req.method,
            path: req.url,
            headers: req.headers,
          },
          (up) => {
            res.writeHead(up.statusCode ?? 502, up.headers);
            up.pipe(res);
            up.on('end', () => (call.end = Date.now()));
          },
        );
        out.on('error', () => {
          res.writeHead(502);
          res.end();
        });
        out.end(Buffer.concat(chunks));
      }, proxy.latencyMs);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return Object.assign(proxy, {
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    stop: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  }) as LatencyProxy;
}
