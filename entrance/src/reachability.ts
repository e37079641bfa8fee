/**
 * Can viewers reach a box? The entrance fetches the box's status page at the address it sees the box's
 * socket come from, on the port of the box's HTTP_URL, and tells the box in its EXCHANGE replies
 * (REACHABLE), so a box behind a router without port forwarding says so on its status page. Only the
 * peer's own address is ever probed, never a host the box names, so a box cannot aim the entrance at a
 * third party. Probes run in the background (a heartbeat never waits for one), at most a few at once,
 * and each box is probed again only every few minutes (every 30 s while it is unreachable).
 */
import { hostPort } from '../../shared/src/bind-address.js';
import { isRecord, parseJsonSafe } from '../../shared/src/protocol/json.js';

const PROBE_TIMEOUT_MS = 3_000;
const RECHECK_MS = 5 * 60_000;
/** A box found unreachable is tried again sooner: it may just have been starting, or its owner fixing the router. */
const RECHECK_UNREACHABLE_MS = 30_000;
const MAX_CONCURRENT = 16;
const MAX_REMEMBERED = 100_000;

export class Reachability {
  private readonly known = new Map<string, { reachable: boolean; at: number; target: string }>();
  /** Boxes being probed now, so heartbeats meanwhile do not start more. */
  private readonly probing = new Set<string>();

  constructor(private readonly now: () => number = Date.now) {}

  /** The last result for this box at this address and port, starting a new probe when due. */
  check(boxId: string, remoteIp: string, httpUrl: unknown): boolean | undefined {
    const target = probeUrl(remoteIp, httpUrl);
    if (target === undefined) return undefined;
    const last = this.known.get(boxId);
    const fresh = last !== undefined && last.target === target && this.now() - last.at < (last.reachable ? RECHECK_MS : RECHECK_UNREACHABLE_MS);
    if (!fresh && !this.probing.has(boxId) && this.probing.size < MAX_CONCURRENT) void this.probe(boxId, target);
    return last?.target === target ? last.reachable : undefined;
  }

  private async probe(boxId: string, target: string): Promise<void> {
    this.probing.add(boxId);
    let reachable = false;
    try {
      const res = await fetch(target, { signal: AbortSignal.timeout(PROBE_TIMEOUT_MS), redirect: 'error' });
      const text = res.ok ? await res.text() : '';
      if (text.length < 64 * 1024) {
        const page = parseJsonSafe(text);
        reachable = isRecord(page) && page.ID === boxId;
      }
    } catch {
      reachable = false; // refused, timed out, or not the box's page: not reachable
    } finally {
      this.probing.delete(boxId);
    }
    this.remember(boxId, { reachable, at: this.now(), target });
  }

  private remember(boxId: string, entry: { reachable: boolean; at: number; target: string }): void {
    this.known.delete(boxId);
    this.known.set(boxId, entry);
    const oldest = this.known.keys().next();
    if (this.known.size > MAX_REMEMBERED && !oldest.done) this.known.delete(oldest.value);
  }
}

/** http://<peer address>:<HTTP_URL's port>/status/status.json, or undefined without a usable HTTP_URL. */
function probeUrl(remoteIp: string, httpUrl: unknown): string | undefined {
  if (typeof httpUrl !== 'string' || remoteIp === '') return undefined;
  let port: string;
  try {
    const u = new URL(httpUrl);
    if (u.protocol !== 'http:') return undefined;
    port = u.port || '80';
  } catch {
    return undefined;
  }
  return `http://${hostPort(remoteIp, Number(port))}/status/status.json`;
}
