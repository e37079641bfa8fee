/**
 * The lab's address plan. Public-range addresses (80.0.0.0/8, 81.0.0.0/8, 2a00::/16) are used on
 * purpose: miniupnpd refuses to map when its WAN address is private or reserved (RFC 1918, 100.64/10,
 * the documentation ranges), so a realistic router needs a public-looking WAN. This is safe only because
 * the whole lab lives in the sealed outer namespace (sealed.ts), where no route leads to the real ones.
 */

/** The internet namespace's own address (entrance, publisher, pebble, the browser live there). */
export const INTERNET_IP = '80.0.0.1';
export const INTERNET_IP6 = '2a00:ffff::1';

/** Home n (1-based) reaches the internet over 81.0.<n>.0/24: the internet side is .1, the WAN .2 and up. */
export function wanLink(n: number): { subnet: string; internetSide: string; wan: (generation: number) => string; prefixLength: number } {
  return { subnet: `81.0.${n}.0/24`, internetSide: `81.0.${n}.1`, wan: (generation) => `81.0.${n}.${2 + generation}`, prefixLength: 24 };
}

/** The carrier of a CGNAT home hands its customer 100.64.<n>.2; the carrier's own side is .1. */
export function carrierLink(n: number): { carrierSide: string; customer: string; prefixLength: number } {
  return { carrierSide: `100.64.${n}.1`, customer: `100.64.${n}.2`, prefixLength: 24 };
}

/** The home's LAN: router .1, box .2, the household's computer .3 (homes with a household). */
export function lan(n: number): { subnet: string; router: string; box: string; household: string; prefixLength: number } {
  return { subnet: `192.168.${n}.0/24`, router: `192.168.${n}.1`, box: `192.168.${n}.2`, household: `192.168.${n}.3`, prefixLength: 24 };
}

/** IPv6 homes: the WAN link 2a00:ff:<n>::/64 and the routed LAN prefix 2a00:<n>::/64. */
export function ipv6Home(n: number): { wanPrefix: string; internetSide: string; wan: string; lanPrefix: string; router: string; box: string } {
  return {
    wanPrefix: `2a00:ff:${n}::/64`,
    internetSide: `2a00:ff:${n}::1`,
    wan: `2a00:ff:${n}::2`,
    lanPrefix: `2a00:${n}::/64`,
    router: `2a00:${n}::1`,
    box: `2a00:${n}::2`,
  };
}

/** Room in the plan: one /24 per home in 81.0/16, 100.64/16 and 192.168/16. */
export const MAX_HOMES = 250;
/** changeWanIp() moves along 81.0.<n>.2, .3, …; this many times at most. */
export const MAX_WAN_CHANGES = 250;
