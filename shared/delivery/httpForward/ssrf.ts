/**
 * SSRF guard: a destination host is resolved and every address checked before connecting, and
 * the connection then goes to the checked address (no second lookup an attacker's DNS could
 * answer differently).
 */
import type { LookupAddress } from 'node:dns';
import { lookup } from 'node:dns/promises';
import { BlockList, isIP, type LookupFunction } from 'node:net';

const blocked = new BlockList();
for (const [net, prefix] of [
  ['0.0.0.0', 8], // "this" network
  ['10.0.0.0', 8], // private
  ['100.64.0.0', 10], // carrier-grade NAT
  ['127.0.0.0', 8], // loopback
  ['169.254.0.0', 16], // link-local (cloud metadata endpoints live here)
  ['172.16.0.0', 12], // private
  ['192.0.0.0', 24], // IETF protocol assignments
  ['192.168.0.0', 16], // private
  ['198.18.0.0', 15], // benchmarking
  ['224.0.0.0', 4], // multicast
  ['240.0.0.0', 4], // reserved, broadcast
] as const) {
  blocked.addSubnet(net, prefix, 'ipv4');
}
for (const [net, prefix] of [
  ['::', 128], // unspecified
  ['::1', 128], // loopback
  ['fc00::', 7], // unique local
  ['fe80::', 10], // link-local
  ['ff00::', 8], // multicast
] as const) {
  blocked.addSubnet(net, prefix, 'ipv6');
}

/** True for loopback, private, link-local, multicast and other non-public addresses. */
export function isPrivateAddress(address: string): boolean {
  const family = isIP(address);
  if (family === 4) return blocked.check(address, 'ipv4');
  if (family === 6) {
    const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
    if (mapped) return blocked.check(mapped[1]!, 'ipv4');
    return blocked.check(address, 'ipv6');
  }
  return true; // not an address at all: refuse
}

export interface ResolvedTarget {
  address: string;
  family: 4 | 6;
}

/** Resolves `host` and refuses it when any of its addresses is not public (unless allowed). */
export async function resolveTarget(host: string, allowPrivate: boolean): Promise<ResolvedTarget> {
  const bare = host.replace(/^\[|\]$/g, '');
  const addresses = isIP(bare) ? [{ address: bare, family: isIP(bare) as 4 | 6 }] : await lookup(bare, { all: true, verbatim: true });
  if (addresses.length === 0) throw new Error(`${host} does not resolve.`);
  if (!allowPrivate) {
    const inner = addresses.find((a) => isPrivateAddress(a.address));
    if (inner) {
      throw new Error(
        `${host} resolves to ${inner.address}, a loopback, private or link-local address; refused (set allowPrivateNetworks to allow).`,
      );
    }
  }
  return { address: addresses[0]!.address, family: addresses[0]!.family as 4 | 6 };
}

/**
 * A `lookup` for http(s).request that answers the checked address, whatever DNS says now. Node's
 * connect asks with { all: true } when it may try several addresses (autoSelectFamily, on by
 * default since Node 20: https://nodejs.org/api/net.html#socketconnectoptions-connectlistener)
 * and then expects a list; a single address for it failed every host name URL with "Invalid IP address".
 */
export function pinnedLookup(target: ResolvedTarget): LookupFunction {
  return (_host, opts, cb) =>
    opts.all
      ? (cb as unknown as (e: null, a: LookupAddress[]) => void)(null, [{ address: target.address, family: target.family }])
      : (cb as (e: null, a: string, f: number) => void)(null, target.address, target.family);
}
