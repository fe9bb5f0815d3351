/**
 * Whether a delivery's source address is in the configured allow-list of CIDR ranges (GHES's egress
 * addresses, or github.com's `hooks` ranges). Pure; the signature is checked after it, always.
 */
import { BlockList, isIP } from 'node:net';

/** The parsed allow-list; `undefined` when none is configured (any source). */
export type SourceAllowList = BlockList | undefined;

/** Parses a comma-separated list of IPv4/IPv6 CIDR ranges; throws naming the bad entry. */
export function parseSourceCidrs(text: string | undefined): SourceAllowList {
  const entries = (text ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  if (entries.length === 0) return undefined;
  const list = new BlockList();
  for (const entry of entries) {
    const m = /^([0-9a-fA-F.:]+)\/(\d{1,3})$/.exec(entry);
    const family = m ? isIP(m[1]) : 0;
    if (!m || family === 0 || Number(m[2]) > (family === 6 ? 128 : 32))
      throw new Error(`"${entry}" is not an IPv4 or IPv6 CIDR range`);
    list.addSubnet(m[1], Number(m[2]), family === 6 ? 'ipv6' : 'ipv4');
  }
  return list;
}

/** True when no allow-list is configured, or `sourceIp` is inside it. A missing or malformed address is refused. */
export function sourceAllowed(list: SourceAllowList, sourceIp: string | undefined): boolean {
  if (list === undefined) return true;
  const family = sourceIp ? isIP(sourceIp) : 0;
  if (family === 0) return false;
  // An IPv4-mapped IPv6 address (::ffff:192.0.2.1) is the IPv4 address.
  const mapped = /^::ffff:(\d{1,3}(\.\d{1,3}){3})$/i.exec(sourceIp!);
  if (mapped) return list.check(mapped[1], 'ipv4');
  return list.check(sourceIp!, family === 6 ? 'ipv6' : 'ipv4');
}
