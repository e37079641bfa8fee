/**
 * One home of the lab: a router namespace doing NAT (and, by kind, a port-mapping daemon, a carrier NAT
 * in front of it, or routed IPv6 behind a stateful firewall) and a box namespace behind it.
 */
import type { ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { carrierLink, INTERNET_IP, INTERNET_IP6, ipv6Home, lan, MAX_WAN_CHANGES, wanLink } from './addresses.js';
import { addAddress, delAddress, enableForwarding, linkRoute, route, veth } from './links.js';
import { startMiniupnpd, stopMiniupnpd, UPNP_HTTP_PORT } from './miniupnpd.js';
import { createNs, runIn, type Ns } from './netns.js';
import { carrierRuleset, FILTER_TABLE, homeRouterRuleset, LAN_IF, openPortCommand, WAN_IF } from './nft.js';

/**
 * 'upnp': miniupnpd with UPnP IGD and NAT-PMP/PCP; 'nat-pmp': miniupnpd with NAT-PMP/PCP only; 'none':
 * NAT and no mapping protocol; 'cgnat': a 'upnp' router whose WAN is in 100.64.0.0/10 behind a carrier
 * NAT; 'ipv6': NAT for IPv4 with no mapping, and a routed IPv6 prefix behind a stateful firewall.
 */
export type RouterKind = 'upnp' | 'nat-pmp' | 'none' | 'cgnat' | 'ipv6';

export interface HomeSpec {
  kind: RouterKind;
  /**
   * 'ipv6' only: the router also runs miniupnpd (UPnP IGD2 and NAT-PMP/PCP), so a box can open its own
   * IPv6 pinholes (WANIPv6FirewallControl AddPinhole) and map IPv4 ports. Default false: the firewall
   * opens only through openFirewall(), as on routers without UPnP.
   */
  pinholes?: boolean;
  /**
   * Routers running UPnP ('upnp', 'cgnat', 'ipv6' with pinholes): false turns NAT-PMP/PCP off, a router
   * that speaks UPnP IGD only (a box that tries NAT-PMP first then maps over UPnP). Default true.
   */
  natPmp?: boolean;
  /**
   * A household's computer on the same LAN as the box (Home.household, 192.168.n.3): the router's LAN
   * becomes a bridge with the box and the household on two ports, as a home switch or Wi-Fi joins them.
   * IPv4 only. Default false: the box is alone behind the router.
   */
  household?: boolean;
}

export interface HomeContext extends HomeSpec {
  /** 1-based; picks the home's subnets (addresses.ts). */
  n: number;
  internet: Ns;
  /** Prefix of the lab's namespace names. */
  prefix: string;
  /** The lab's temp folder (miniupnpd's config and log go in a subfolder). */
  dir: string;
}

/** The LAN interface of the box and of the household's computer. */
export const HOST_IF = 'eth0';
/** The router's bridge ports towards the box and the household (the bridge itself is LAN_IF). */
const BOX_PORT_IF = 'lanbox';
const HOUSEHOLD_PORT_IF = 'lanhh';
/** The carrier's interface towards its customers. */
const CUSTOMER_IF = 'cust0';

export class Home {
  readonly kind: RouterKind;
  readonly router: Ns;
  readonly box: Ns;
  /** Only for 'cgnat': the carrier's namespace between the home router and the internet. */
  readonly carrier: Ns | undefined;
  /** Only with `household: true`: the household's computer, on the box's LAN. */
  readonly household: Ns | undefined;
  readonly boxLanIp: string;
  /** Only with `household: true`: the household computer's LAN address. */
  readonly householdLanIp: string | undefined;
  readonly routerLanIp: string;
  /** Only for 'ipv6': the box's global address, and the router's LAN address (its IPv6 gateway). */
  readonly boxIp6: string | undefined;
  readonly routerIp6: string | undefined;
  /** UPnP root description URL ('upnp', 'cgnat', 'ipv6' with pinholes): lets a client skip SSDP discovery (~2 s). */
  readonly upnpUrl: string | undefined;
  /** The same over IPv6 ('ipv6' with pinholes): where a box asks for IPv6 pinholes. */
  readonly upnpUrl6: string | undefined;
  private wanGeneration = 0;
  private daemon: ChildProcess | undefined;
  private readonly openPorts = new Set<number>();

  private constructor(
    private readonly ctx: HomeContext,
    namespaces: { router: Ns; box: Ns; carrier: Ns | undefined; household: Ns | undefined },
  ) {
    this.kind = ctx.kind;
    this.router = namespaces.router;
    this.box = namespaces.box;
    this.carrier = namespaces.carrier;
    this.household = namespaces.household;
    this.boxLanIp = lan(ctx.n).box;
    this.householdLanIp = namespaces.household ? lan(ctx.n).household : undefined;
    this.routerLanIp = lan(ctx.n).router;
    this.boxIp6 = ctx.kind === 'ipv6' ? ipv6Home(ctx.n).box : undefined;
    this.routerIp6 = ctx.kind === 'ipv6' ? ipv6Home(ctx.n).router : undefined;
    this.upnpUrl = this.runsUpnp() ? `http://${this.routerLanIp}:${UPNP_HTTP_PORT}/rootDesc.xml` : undefined;
    this.upnpUrl6 = this.runsUpnp() && this.routerIp6 ? `http://[${this.routerIp6}]:${UPNP_HTTP_PORT}/rootDesc.xml` : undefined;
  }

  static async build(ctx: HomeContext): Promise<Home> {
    const router = await createNs(`${ctx.prefix}-r${ctx.n}`);
    const box = await createNs(`${ctx.prefix}-b${ctx.n}`);
    const carrier = ctx.kind === 'cgnat' ? await createNs(`${ctx.prefix}-c${ctx.n}`) : undefined;
    const household = ctx.household ? await createNs(`${ctx.prefix}-h${ctx.n}`) : undefined;
    const home = new Home(ctx, { router, box, carrier, household });
    await home.wire();
    await home.boot();
    return home;
  }

  /** The router's WAN address (in 100.64.0.0/10 for 'cgnat'). */
  get routerWanIp(): string {
    return this.ctx.kind === 'cgnat' ? carrierLink(this.ctx.n).customer : this.publicIp;
  }

  /** The address the internet sees this home's traffic come from (the carrier's for 'cgnat'). */
  get publicIp(): string {
    return wanLink(this.ctx.n).wan(this.wanGeneration);
  }

  /** Connect router (and carrier) to the internet and the box to the router, with addresses and routes. */
  private async wire(): Promise<void> {
    const { n, internet } = this.ctx;
    const link = wanLink(n);
    const edge = this.carrier ?? this.router;
    await veth(internet, `home${n}`, edge, WAN_IF);
    await addAddress(internet, `home${n}`, link.internetSide, link.prefixLength);
    await linkRoute(internet, link.subnet, `home${n}`, INTERNET_IP);
    await addAddress(edge, WAN_IF, this.publicIp, link.prefixLength);
    await route(edge, 'default', link.internetSide);
    if (this.carrier) await this.wireCarrier(this.carrier);
    if (this.household) await this.wireBridgedLan(this.household);
    else await veth(this.router, LAN_IF, this.box, HOST_IF);
    const l = lan(n);
    await addAddress(this.router, LAN_IF, l.router, l.prefixLength);
    await addAddress(this.box, HOST_IF, l.box, l.prefixLength);
    await route(this.box, 'default', l.router);
    await enableForwarding(this.router);
    if (this.ctx.kind === 'ipv6') await this.wireIpv6();
  }

  private async wireCarrier(carrier: Ns): Promise<void> {
    const c = carrierLink(this.ctx.n);
    await veth(carrier, CUSTOMER_IF, this.router, WAN_IF);
    await addAddress(carrier, CUSTOMER_IF, c.carrierSide, c.prefixLength);
    await addAddress(this.router, WAN_IF, c.customer, c.prefixLength);
    await route(this.router, 'default', c.carrierSide);
    await enableForwarding(carrier);
    await runIn(carrier, ['nft', '-f', '-'], { input: carrierRuleset() });
  }

  /** The router's LAN as a bridge (LAN_IF, which holds the router's LAN address) with the box and the household on its ports. */
  private async wireBridgedLan(household: Ns): Promise<void> {
    await runIn(this.router, ['ip', 'link', 'add', 'name', LAN_IF, 'type', 'bridge']);
    await runIn(this.router, ['ip', 'link', 'set', LAN_IF, 'up']);
    await veth(this.router, BOX_PORT_IF, this.box, HOST_IF);
    await veth(this.router, HOUSEHOLD_PORT_IF, household, HOST_IF);
    for (const port of [BOX_PORT_IF, HOUSEHOLD_PORT_IF]) await runIn(this.router, ['ip', 'link', 'set', port, 'master', LAN_IF]);
    const l = lan(this.ctx.n);
    await addAddress(household, HOST_IF, l.household, l.prefixLength);
    await route(household, 'default', l.router);
  }

  private async wireIpv6(): Promise<void> {
    const v6 = ipv6Home(this.ctx.n);
    await addAddress(this.ctx.internet, `home${this.ctx.n}`, v6.internetSide, 64);
    await linkRoute(this.ctx.internet, v6.wanPrefix, `home${this.ctx.n}`, INTERNET_IP6);
    await addAddress(this.router, WAN_IF, v6.wan, 64);
    await route(this.router, 'default', v6.internetSide);
    await route(this.ctx.internet, v6.lanPrefix, v6.wan, INTERNET_IP6);
    await addAddress(this.router, LAN_IF, v6.router, 64);
    await addAddress(this.box, HOST_IF, v6.box, 64);
    await route(this.box, 'default', v6.router);
  }

  private runsUpnp(): boolean {
    return this.ctx.kind === 'upnp' || this.ctx.kind === 'cgnat' || (this.ctx.kind === 'ipv6' && this.ctx.pinholes === true);
  }

  private runsNatPmp(): boolean {
    return this.runsUpnp() || this.ctx.kind === 'nat-pmp';
  }

  /** The router's firewall and NAT from scratch, the manually opened ports, and its mapping daemon. */
  private async boot(): Promise<void> {
    await runIn(this.router, ['nft', '-f', '-'], { input: homeRouterRuleset() });
    for (const port of this.openPorts) await runIn(this.router, openPortCommand(port));
    if (!this.runsNatPmp()) return;
    const dir = path.join(this.ctx.dir, `home${this.ctx.n}`);
    mkdirSync(dir, { recursive: true });
    this.daemon = await startMiniupnpd({
      router: this.router,
      dir,
      lan: lan(this.ctx.n).subnet,
      upnp: this.runsUpnp(),
      natPmp: this.ctx.natPmp !== false || !this.runsUpnp(),
      uuid: `3a5b1c3e-0000-4000-8000-${String(this.ctx.n).padStart(12, '0')}`,
      ...(this.routerIp6 ? { lanIp6: this.routerIp6 } : {}),
    });
  }

  /**
   * Power-cycle the router: the mapping daemon and every port mapping are gone, the NAT state of
   * outgoing connections too (the WAN address is re-set, which makes the kernel forget the masqueraded
   * connections), then the router comes back up empty. Manually opened firewall ports are its
   * configuration and come back.
   */
  async reboot(): Promise<void> {
    if (this.daemon) await stopMiniupnpd(this.daemon);
    this.daemon = undefined;
    await runIn(this.router, ['nft', 'delete', 'table', 'inet', FILTER_TABLE]);
    const wan = this.routerWanIp;
    const uplink = this.ctx.kind === 'cgnat' ? { gateway: carrierLink(this.ctx.n).carrierSide, prefixLength: carrierLink(this.ctx.n).prefixLength } : { gateway: wanLink(this.ctx.n).internetSide, prefixLength: wanLink(this.ctx.n).prefixLength };
    await delAddress(this.router, WAN_IF, wan, uplink.prefixLength);
    await addAddress(this.router, WAN_IF, wan, uplink.prefixLength);
    await route(this.router, 'default', uplink.gateway);
    await this.boot();
  }

  /**
   * The ISP gives this home a new public address (for 'cgnat' the carrier's public address changes).
   * Connections through the old address die, as they do on a real WAN change; mappings stay.
   * Resolves with the new address.
   */
  async changeWanIp(): Promise<string> {
    if (this.wanGeneration + 1 >= MAX_WAN_CHANGES) throw new Error('changeWanIp: the address plan has no more WAN addresses');
    const edge = this.carrier ?? this.router;
    const link = wanLink(this.ctx.n);
    const old = this.publicIp;
    this.wanGeneration += 1;
    await delAddress(edge, WAN_IF, old, link.prefixLength);
    await addAddress(edge, WAN_IF, this.publicIp, link.prefixLength);
    await route(edge, 'default', link.internetSide);
    // The ISP forgets where the old address was: else the internet keeps sending it to this router by
    // its cached MAC, and the router's DNAT rules (they match the port, not the address) still answer.
    await runIn(this.ctx.internet, ['ip', 'neigh', 'flush', 'dev', `home${this.ctx.n}`]);
    return this.publicIp;
  }

  /** Open a TCP/UDP port to the box's IPv6 address in the router's stateful firewall ('ipv6' homes). */
  async openFirewall(port: number): Promise<void> {
    if (this.ctx.kind !== 'ipv6') throw new Error(`openFirewall: a '${this.ctx.kind}' home has no IPv6 firewall to open`);
    this.openPorts.add(port);
    await runIn(this.router, openPortCommand(port));
  }

  /** Stop the mapping daemon; the lab deletes the namespaces. */
  async stop(): Promise<void> {
    if (this.daemon) await stopMiniupnpd(this.daemon);
    this.daemon = undefined;
  }

  namespaces(): Ns[] {
    return [this.box, this.router, ...(this.carrier ? [this.carrier] : []), ...(this.household ? [this.household] : [])];
  }
}
