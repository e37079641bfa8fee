/**
 * A home connection's speeds on a lab router, as a typical DSL/cable router has them: its WAN egress
 * (the household's and the box's upload) and its LAN egress (their download) each an htb class at the
 * line rate with a deep packet FIFO under it, the tail-drop queue of a router's txqueuelen. This kernel
 * has htb, tbf and the FIFOs only (no fq_codel, cake or netem), so the FIFO is the one queue there is.
 */
import { HOST_IF, type Home } from './home.js';
import { runIn, type Ns } from './netns.js';
import { LAN_IF, WAN_IF } from './nft.js';

export interface LineShape {
  upMbit: number;
  downMbit: number;
  /** Packets the router queues before it drops (a typical txqueuelen is 1000). */
  fifoPackets: number;
}

/** One shaped direction's counters (`tc -s`), to show the shaping is what limits. */
export interface QueueCounters {
  sentBytes: number;
  /** Times the class had a packet but no tokens: the rate, not the sender, held it back. */
  overlimits: number;
  drops: number;
}

/**
 * The congestion control of the home's hosts: Raspberry Pi OS, Windows, macOS and Linux desktops all
 * default to CUBIC, which fills a router's FIFO (this machine's default, BBR, keeps it nearly empty). Set
 * on their default route (`congctl`): the kernel refuses a namespace a default outside the host's
 * tcp_allowed_congestion_control, and the sealed lab does not change the host's.
 */
const HOST_CONGESTION_CONTROL = 'cubic';

/**
 * Shape `home`'s router. Hosts behind it send one MSS per packet (gso_max_segs 1): veths would else pass
 * 64 KB TCP super-packets that a real Ethernet never carries, making "1000 packets" up to 64 MB.
 */
export async function shapeHome(home: Home, shape: LineShape): Promise<void> {
  await shapeEgress(home.router, WAN_IF, shape.upMbit, shape.fifoPackets);
  await shapeEgress(home.router, LAN_IF, shape.downMbit, shape.fifoPackets);
  for (const host of [home.box, home.household]) {
    if (!host) continue;
    await runIn(host, ['ip', 'link', 'set', 'dev', HOST_IF, 'gso_max_segs', '1']);
    await runIn(host, ['ip', 'route', 'replace', 'default', 'via', home.routerLanIp, 'congctl', HOST_CONGESTION_CONTROL]);
  }
}

async function shapeEgress(ns: Ns, dev: string, mbit: number, fifoPackets: number): Promise<void> {
  await runIn(ns, ['tc', 'qdisc', 'replace', 'dev', dev, 'root', 'handle', '1:', 'htb', 'default', '10']);
  await runIn(ns, ['tc', 'class', 'add', 'dev', dev, 'parent', '1:', 'classid', '1:10', 'htb', 'rate', `${mbit}mbit`, 'ceil', `${mbit}mbit`]);
  await runIn(ns, ['tc', 'qdisc', 'add', 'dev', dev, 'parent', '1:10', 'handle', '10:', 'pfifo', 'limit', String(fifoPackets)]);
}

/** The upload class's counters on `home`'s router (WAN egress), from `tc -s` (its htb classes have no JSON output). */
export async function uplinkCounters(home: Home): Promise<QueueCounters> {
  const classes = await runIn(home.router, ['tc', '-s', 'class', 'show', 'dev', WAN_IF]);
  const queues = await runIn(home.router, ['tc', '-s', 'qdisc', 'show', 'dev', WAN_IF]);
  const cls = /class htb 1:10 [^\n]*\n\s*Sent (\d+) bytes \d+ pkt \(dropped \d+, overlimits (\d+)/.exec(classes);
  const fifo = /qdisc pfifo 10: [^\n]*\n\s*Sent \d+ bytes \d+ pkt \(dropped (\d+)/.exec(queues);
  if (!cls || !fifo) throw new Error(`the router's uplink is not shaped as expected:\n${classes}\n${queues}`);
  return { sentBytes: Number(cls[1]), overlimits: Number(cls[2]), drops: Number(fifo[1]) };
}
