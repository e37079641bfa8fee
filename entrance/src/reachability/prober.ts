/**
 * Background probes of boxes' ports (targets.ts, probe.ts), remembered per box. A heartbeat never waits
 * for a probe: it gets the last finished result for the box's current address and ports, and starts a new
 * probe when that result is missing or due. At most MAX_CONCURRENT boxes are probed at once (their ports
 * together), each box again only every few minutes (every 30 s while it is unreachable: it may just have
 * been starting, or its owner fixing the router), and at most MAX_REMEMBERED results are kept, the least
 * recently probed dropped first.
 */
import type { BoxExchange } from '../../../shared/src/protocol/index.js';
import { probe } from './probe.js';
import { probeTargets } from './targets.js';
import type { ProbeTarget } from './targets.js';
import type { PortProbe } from './verdict.js';

const RECHECK_MS = 5 * 60_000;
const RECHECK_UNREACHABLE_MS = 30_000;
const MAX_CONCURRENT = 16;
const MAX_REMEMBERED = 100_000;

interface Remembered {
  /** What was probed (address, roles, ports, TLS names): a box announcing other ports is probed afresh. */
  target: string;
  probes: PortProbe[];
  at: number;
}

export interface ProberOptions {
  now?: () => number;
  /** Per probe; tests shorten it. */
  timeoutMs?: number;
}

export class Reachability {
  private readonly known = new Map<string, Remembered>();
  /** Boxes being probed now, so heartbeats meanwhile do not start more. */
  private readonly probing = new Set<string>();
  private readonly now: () => number;

  constructor(private readonly options: ProberOptions = {}) {
    this.now = options.now ?? Date.now;
  }

  /** The last finished probes of this box at this address and these ports (undefined: none yet), starting new ones when due. */
  check(boxId: string, remoteIp: string, msg: BoxExchange): PortProbe[] | undefined {
    const targets = probeTargets(remoteIp, msg);
    if (targets.length === 0) return undefined;
    const target = `${remoteIp} ${targets.map(describe).join(' ')}`;
    const last = this.known.get(boxId);
    const current = last?.target === target ? last : undefined;
    const reachable = current?.probes.every((p) => p.outcome === 'ok') ?? false;
    const fresh = current !== undefined && this.now() - current.at < (reachable ? RECHECK_MS : RECHECK_UNREACHABLE_MS);
    if (!fresh && !this.probing.has(boxId) && this.probing.size < MAX_CONCURRENT) void this.probe(boxId, targets, target);
    return current?.probes;
  }

  private async probe(boxId: string, targets: ProbeTarget[], target: string): Promise<void> {
    this.probing.add(boxId);
    try {
      const outcomes = await Promise.all(targets.map((t) => probe(t, boxId, this.options.timeoutMs)));
      this.remember(boxId, { target, at: this.now(), probes: targets.map((t, i) => ({ role: t.role, port: t.port, outcome: outcomes[i] ?? 'timeout' })) });
    } finally {
      this.probing.delete(boxId);
    }
  }

  private remember(boxId: string, entry: Remembered): void {
    this.known.delete(boxId);
    this.known.set(boxId, entry);
    const oldest = this.known.keys().next();
    if (this.known.size > MAX_REMEMBERED && !oldest.done) this.known.delete(oldest.value);
  }
}

/** A target in a few bytes (`viewer:7072`, `https:7073:box.example.net`): a hundred thousand of them are remembered. */
function describe(t: ProbeTarget): string {
  return t.kind === 'tls' ? `${t.role}:${t.port}:${t.servername ?? ''}` : `${t.role}:${t.port}`;
}
