/**
 * Which outbound calls go through an HTTP(S) proxy: the `HTTPS_PROXY`, `HTTP_PROXY` and `NO_PROXY`
 * variables (lower-case spellings win, as in curl and Node.js), parsed once and decided per host. Pure.
 */
import { BlockList, isIP } from 'node:net';

/** One `NO_PROXY` entry. */
type Bypass =
  | { readonly kind: 'all' }
  | { readonly kind: 'domain'; readonly domain: string; readonly port?: number }
  | { readonly kind: 'addresses'; readonly list: BlockList; readonly port?: number };

/** The parsed proxy variables. */
export interface ProxySettings {
  /** Proxy of `https:` targets (`HTTPS_PROXY`), if any. */
  readonly https?: URL;
  /** Proxy of `http:` targets (`HTTP_PROXY`), if any. */
  readonly http?: URL;
  readonly bypass: readonly Bypass[];
}

/** A proxy variable that cannot be used: a deployment error naming the variable. */
export class ProxySettingsError extends Error {}

const pick = (env: Record<string, string | undefined>, name: string): [string, string] | undefined => {
  for (const n of [name.toLowerCase(), name]) {
    const v = env[n]?.trim();
    if (v) return [n, v];
  }
  return undefined;
};

function proxyUrl(env: Record<string, string | undefined>, name: string): URL | undefined {
  const found = pick(env, name);
  if (!found) return undefined;
  const [variable, value] = found;
  let url: URL;
  try {
    // `host:port` alone is taken as an http:// proxy, as curl does.
    url = new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(value) ? value : `http://${value}`);
  } catch {
    throw new ProxySettingsError(`${variable} is not a URL: set it to http://host:port or https://host:port`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new ProxySettingsError(
      `${variable} uses ${url.protocol.replace(':', '')}: only http:// and https:// proxies are supported`,
    );
  return url;
}

function portOf(text: string): number | undefined {
  const port = Number(text);
  return Number.isInteger(port) && port > 0 && port < 65536 ? port : undefined;
}

function bypassEntry(raw: string): Bypass | undefined {
  const entry = raw.trim().toLowerCase();
  if (entry === '') return undefined;
  if (entry === '*') return { kind: 'all' };
  // 10.0.0.0/8 or fd00::/8: a range of addresses; 10.1.2.3 or [::1]:8443: one address.
  const cidr = /^\[?([0-9a-f.:]+)\]?\/(\d{1,3})$/.exec(entry);
  if (cidr && isIP(cidr[1])) {
    const list = new BlockList();
    const type = isIP(cidr[1]) === 6 ? 'ipv6' : 'ipv4';
    const prefix = Number(cidr[2]);
    if (prefix > (type === 'ipv6' ? 128 : 32)) return undefined;
    list.addSubnet(cidr[1], prefix, type);
    return { kind: 'addresses', list };
  }
  const bracketed = /^\[([0-9a-f:.]+)\](?::(\d+))?$/.exec(entry);
  const plainIp = isIP(entry) ? [entry, entry] : undefined;
  const withPort = /^([^:]+):(\d+)$/.exec(entry);
  const ip = bracketed ?? plainIp ?? (withPort && isIP(withPort[1]) ? withPort : undefined);
  if (ip) {
    const list = new BlockList();
    list.addAddress(ip[1], isIP(ip[1]) === 6 ? 'ipv6' : 'ipv4');
    return { kind: 'addresses', list, port: ip[2] && ip !== plainIp ? portOf(ip[2]) : undefined };
  }
  const [host, port] = withPort ? [withPort[1], portOf(withPort[2])] : [entry, undefined];
  // `.example.com`, `*.example.com` and `example.com` all cover example.com and its subdomains.
  const domain = host.replace(/^\*?\.+/, '');
  return domain === '' ? undefined : { kind: 'domain', domain, port };
}

/** Reads the proxy variables of an environment. Throws {@link ProxySettingsError} for an unusable proxy URL. */
export function proxySettings(env: Record<string, string | undefined>): ProxySettings {
  const bypass = (pick(env, 'NO_PROXY')?.[1] ?? '')
    .split(/[,\s]+/)
    .map(bypassEntry)
    .filter((b): b is Bypass => b !== undefined);
  return { https: proxyUrl(env, 'HTTPS_PROXY'), http: proxyUrl(env, 'HTTP_PROXY'), bypass };
}

/** Whether any target goes through a proxy. */
export function usesProxy(settings: ProxySettings): boolean {
  return settings.https !== undefined || settings.http !== undefined;
}

/**
 * The proxy a connection to `host:port` over `protocol` goes through, or undefined to connect directly
 * (no proxy for the protocol, or a `NO_PROXY` entry covers the host).
 */
export function proxyFor(
  settings: ProxySettings,
  protocol: 'http:' | 'https:',
  host: string,
  port: number,
): URL | undefined {
  const proxy = protocol === 'https:' ? settings.https : settings.http;
  if (proxy === undefined) return undefined;
  const name = host
    .toLowerCase()
    .replace(/^\[(.*)\]$/, '$1')
    .replace(/\.$/, '');
  const family = isIP(name);
  const bypassed = settings.bypass.some((b) => {
    if (b.kind === 'all') return true;
    if (b.port !== undefined && b.port !== port) return false;
    if (b.kind === 'addresses') return family !== 0 && b.list.check(name, family === 6 ? 'ipv6' : 'ipv4');
    return name === b.domain || name.endsWith(`.${b.domain}`);
  });
  return bypassed ? undefined : proxy;
}

/** A proxy URL fit for a log line or an error: no credentials. */
export function redactedProxy(proxy: URL): string {
  return `${proxy.protocol}//${proxy.host}`;
}
