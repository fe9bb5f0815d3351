/**
 * The tunnelling agents and the agent fetch: TLS to the target inside the tunnel (checked against the
 * CA, SNI set), what Octokit needs of fetch (bodies, redirects, compression, abort), and errors.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { createServer as createHttpServer, Server } from 'node:http';
import { createServer as createHttpsServer, get as httpsGet, RequestOptions } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { agentFetch, outboundNetwork } from '../../lambda/adapters/proxy-agent';
import { proxySettings } from '../../lambda/core/proxy-settings';
import { ConnectProxy, startConnectProxy } from '../integration/connect-proxy';

let proxy: ConnectProxy;
let tlsServer: Server;
let tlsPort: number;
let ca: string;
let plain: Server;
let plainUrl: string;

const listen = (server: Server) =>
  new Promise<number>((resolve) =>
    server.listen(0, '127.0.0.1', () => resolve((server.address() as { port: number }).port)),
  );

beforeAll(async () => {
  // A self-signed certificate for localhost, as a private CA would issue a GHES one.
  const dir = mkdtempSync(join(tmpdir(), 'proxy-tls-'));
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-days',
      '1',
      '-subj',
      '/CN=localhost',
      '-addext',
      'subjectAltName=DNS:localhost',
      '-keyout',
      join(dir, 'key.pem'),
      '-out',
      join(dir, 'cert.pem'),
    ],
    { stdio: 'ignore' },
  );
  ca = readFileSync(join(dir, 'cert.pem'), 'utf8');
  tlsServer = createHttpsServer({ key: readFileSync(join(dir, 'key.pem')), cert: ca }, (req, res) =>
    res.end(`tls ok: ${req.headers.host}`),
  );
  plain = createHttpServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString();
      if (req.url === '/gzip') {
        res.writeHead(200, { 'content-type': 'application/json', 'content-encoding': 'gzip' });
        return res.end(gzipSync(JSON.stringify({ compressed: true })));
      }
      if (req.url === '/moved') return res.writeHead(302, { location: '/landing' }).end();
      if (req.url === '/elsewhere')
        return res
          .writeHead(307, { location: `${plainUrl.replace('127.0.0.1', 'localhost')}/landing` })
          .end();
      if (req.url === '/empty') return res.writeHead(204).end();
      if (req.url === '/hang') return undefined; // never answers
      res.writeHead(201, { 'content-type': 'application/json', 'x-seen': 'yes' });
      return res.end(
        JSON.stringify({
          method: req.method,
          url: req.url,
          body,
          authorization: req.headers.authorization ?? null,
        }),
      );
    });
  });
  [proxy, tlsPort] = await Promise.all([startConnectProxy(), listen(tlsServer)]);
  plainUrl = `http://127.0.0.1:${await listen(plain)}`;
});
afterAll(async () => {
  await proxy.stop();
  tlsServer.closeAllConnections?.();
  plain.closeAllConnections?.();
  await Promise.all([new Promise((r) => tlsServer.close(r)), new Promise((r) => plain.close(r))]);
});

const getThrough = (options: RequestOptions) =>
  new Promise<string>((resolve, reject) => {
    httpsGet(`https://localhost:${tlsPort}/`, options, (res) => {
      let text = '';
      res.on('data', (c) => (text += c));
      res.on('end', () => resolve(text));
    }).on('error', reject);
  });

describe('the https agent tunnels and verifies TLS inside the tunnel', () => {
  test('a CONNECT to the target, then TLS checked against the given CA with the target as SNI', async () => {
    const { sdkAgents } = outboundNetwork(proxySettings({ HTTPS_PROXY: proxy.url }));
    const mark = proxy.connects.length;
    expect(await getThrough({ agent: sdkAgents.httpsAgent, ca })).toBe(`tls ok: localhost:${tlsPort}`);
    expect(proxy.connects.slice(mark).map((c) => c.target)).toEqual([`localhost:${tlsPort}`]);
  });

  test('without the CA the certificate is refused: the tunnel does not weaken TLS', async () => {
    const { sdkAgents } = outboundNetwork(proxySettings({ HTTPS_PROXY: proxy.url }));
    await expect(getThrough({ agent: sdkAgents.httpsAgent })).rejects.toThrow(/self[- ]signed/i);
  });

  test('NO_PROXY: the same agent connects directly', async () => {
    const { sdkAgents } = outboundNetwork(proxySettings({ HTTPS_PROXY: proxy.url, NO_PROXY: 'localhost' }));
    const mark = proxy.connects.length;
    expect(await getThrough({ agent: sdkAgents.httpsAgent, ca })).toContain('tls ok');
    expect(proxy.connects.length).toBe(mark);
  });

  test('an unreachable proxy is an error naming it', async () => {
    const { sdkAgents } = outboundNetwork(proxySettings({ HTTPS_PROXY: 'http://127.0.0.1:9' }));
    await expect(getThrough({ agent: sdkAgents.httpsAgent, ca })).rejects.toThrow(
      /proxy http:\/\/127\.0\.0\.1:9 unreachable for CONNECT localhost:/,
    );
  });

  test('no proxy variable: the SDK keeps its own agents and GitHub the global fetch', () => {
    const network = outboundNetwork(proxySettings({ NO_PROXY: '*' }));
    expect(network).toEqual({ sdkAgents: {}, fetch: globalThis.fetch, proxied: false });
  });
});

describe('agentFetch: what Octokit needs of fetch', () => {
  const { fetch: viaProxy } = outboundNetwork(proxySettings({ HTTP_PROXY: '' }));
  const network = outboundNetwork(
    proxySettings({ HTTP_PROXY: 'http://127.0.0.1:1', NO_PROXY: '127.0.0.1,localhost' }),
  );
  const f = network.fetch;

  test('a POST with a string body and headers; status, headers and JSON of the answer; url set', async () => {
    const res = await f(`${plainUrl}/api/x`, {
      method: 'POST',
      body: '{"a":1}',
      headers: { 'content-type': 'application/json', authorization: 'token t' },
    });
    expect(res.status).toBe(201);
    expect(res.headers.get('x-seen')).toBe('yes');
    expect(res.url).toBe(`${plainUrl}/api/x`);
    expect(await res.json()).toEqual({
      method: 'POST',
      url: '/api/x',
      body: '{"a":1}',
      authorization: 'token t',
    });
    expect(viaProxy).toBe(globalThis.fetch); // an empty variable is no proxy
  });

  test('gzip answers are decoded', async () => {
    const res = await f(`${plainUrl}/gzip`);
    expect(res.headers.get('content-encoding')).toBeNull();
    expect(await res.json()).toEqual({ compressed: true });
  });

  test('a 302 after a POST is followed with a GET; a cross-origin redirect drops the authorization', async () => {
    const moved = await f(`${plainUrl}/moved`, { method: 'POST', body: 'x' });
    expect(await moved.json()).toMatchObject({ method: 'GET', url: '/landing', body: '' });
    const elsewhere = await f(`${plainUrl}/elsewhere`, { headers: { authorization: 'token t' } });
    expect(await elsewhere.json()).toMatchObject({ url: '/landing', authorization: null });
    const manual = await f(`${plainUrl}/moved`, { redirect: 'manual' });
    expect(manual.status).toBe(302);
  });

  test('204 has no body', async () => {
    const res = await f(`${plainUrl}/empty`);
    expect(res.status).toBe(204);
    expect(await res.text()).toBe('');
  });

  test('an aborted request rejects with the signal reason', async () => {
    await expect(f(`${plainUrl}/hang`, { signal: AbortSignal.timeout(200) })).rejects.toMatchObject({
      name: 'TimeoutError',
    });
  });

  test('a Request object is refused plainly (Octokit passes URLs)', async () => {
    const plainFetch = agentFetch({ http: undefined as never, https: undefined as never });
    await expect(plainFetch(new Request(plainUrl))).rejects.toThrow(/takes a URL or a string/);
  });
});
