/**
 * The nftables rulesets of the lab's routers. A home router is a stateful NAT: the LAN goes out
 * masqueraded, nothing comes in unless a mapping daemon (or openFirewall) lets it.
 *
 * miniupnpd 2.3.1 (Debian's nftables build) writes into table `inet filter`: its filter rules into chain
 * `miniupnpd`, its DNAT rules into `prerouting_miniupnpd`, and expects `postrouting_miniupnpd`; all three
 * must exist before it starts (Debian's nft_init.sh that would make them is broken: it sources a
 * miniupnpd_functions.sh the package does not ship). The chains are declared before the base chains
 * that jump to them, else nft refuses the jumps.
 */

export const WAN_IF = 'wan0';
export const LAN_IF = 'lan0';
/** The table and set a home router's IPv6 firewall opens ports in (Home.openFirewall). */
export const FILTER_TABLE = 'filter';
export const OPEN_PORTS_SET = 'open_ports6';

export function homeRouterRuleset(): string {
  return `table inet ${FILTER_TABLE} {
  set ${OPEN_PORTS_SET} {
    type inet_service
  }
  chain miniupnpd {
  }
  chain prerouting_miniupnpd {
  }
  chain postrouting_miniupnpd {
  }
  chain forward {
    type filter hook forward priority 0; policy drop;
    ct state established,related accept
    ct state invalid drop
    iifname "${LAN_IF}" oifname "${WAN_IF}" accept
    meta l4proto ipv6-icmp accept
    iifname "${WAN_IF}" meta nfproto ipv6 meta l4proto { tcp, udp } th dport @${OPEN_PORTS_SET} accept
    jump miniupnpd
  }
  chain prerouting {
    type nat hook prerouting priority -100; policy accept;
    jump prerouting_miniupnpd
  }
  chain postrouting {
    type nat hook postrouting priority 100; policy accept;
    jump postrouting_miniupnpd
    oifname "${WAN_IF}" meta nfproto ipv4 masquerade
  }
}
`;
}

/** A carrier-grade NAT: its customers (100.64.0.0/10) go out masqueraded behind its one public address. */
export function carrierRuleset(): string {
  return `table inet carrier {
  chain postrouting {
    type nat hook postrouting priority 100; policy accept;
    oifname "${WAN_IF}" masquerade
  }
}
`;
}

export function openPortCommand(port: number): string[] {
  return ['nft', 'add', 'element', 'inet', FILTER_TABLE, OPEN_PORTS_SET, `{ ${port} }`];
}
