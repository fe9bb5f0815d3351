/**
 * A forward proxy on 127.0.0.1 that speaks `CONNECT` as corporate proxies do: it tunnels to the
 * target, records who asked for what, and can be told to refuse (403, or 407 without credentials).
 */
import { createServer, IncomingMessage, Server } from 'node:http';
import { connect, Socket } from 'node:net';

/** One CONNECT the proxy received. */
export interface ConnectRecord {
  /** `host:port` asked for. */
  readonly target: string;
  /** The `Proxy-Authorization` header, if any. */
  readonly authorization?: string;
  /** What the proxy answered. */
  readonly status: number;
}

/** A running proxy. */
export interface ConnectProxy {
  /** `http://127.0.0.1:{port}`. */
  readonly url: string;
  readonly connects: ConnectRecord[];
  /** Refuse every CONNECT with this status from now on (undefined: tunnel again). */
  refuseWith(status: number | undefined): void;
  /** Answer 407 unless `Proxy-Authorization` is Basic of `user:password`. */
  requireCredentials(user: string, password: string): void;
  /** Plain (non-CONNECT) requests it received: a client that should tunnel never sends one. */
  readonly plainRequests: string[];
  stop(): Promise<void>;
}

/** Starts the proxy on an ephemeral port. */
export async function startConnectProxy(): Promise<ConnectProxy> {
  const connects: ConnectRecord[] = [];
  const plainRequests: string[] = [];
  const sockets = new Set<Socket>();
  let refusal: number | undefined;
  let credentials: string | undefined;
  const server: Server = createServer((req, res) => {
    plainRequests.push(`${req.method} ${req.url}`);
    res.writeHead(400).end('this proxy only tunnels');
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  });
  server.on('connect', (req: IncomingMessage, client: Socket, head: Buffer) => {
    const target = req.url ?? '';
    const authorization = req.headers['proxy-authorization'];
    const status =
      refusal ?? (credentials !== undefined && authorization !== `Basic ${credentials}` ? 407 : 200);
    connects.push({ target, authorization, status });
    if (status !== 200) {
      const extra = status === 407 ? 'Proxy-Authenticate: Basic realm="test"\r\n' : '';
      client.end(`HTTP/1.1 ${status} Refused\r\n${extra}Content-Length: 0\r\n\r\n`);
      return;
    }
    const match = /^\[?([^\]]+)\]?:(\d+)$/.exec(target);
    if (!match) {
      client.end('HTTP/1.1 400 Bad Request\r\n\r\n');
      return;
    }
    const upstream = connect(Number(match[2]), match[1], () => {
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      if (head.length > 0) upstream.write(head);
      upstream.pipe(client);
      client.pipe(upstream);
    });
    sockets.add(upstream);
    upstream.once('close', () => sockets.delete(upstream));
    const close = () => {
      upstream.destroy();
      client.destroy();
    };
    upstream.on('error', close);
    client.on('error', close);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  return {
    url: `http://127.0.0.1:${port}`,
    connects,
    plainRequests,
    refuseWith: (status) => (refusal = status),
    requireCredentials: (user, password) =>
      (credentials = Buffer.from(`${user}:${password}`).toString('base64')),
    stop: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
