/**
 * Boxes' verdicts in Redis (`dandelion:REACHABILITY:<box>`, reachabilityKeys()), so SEARCH and the
 * dashboard of every entrance sharing the Redis see the verdict the entrance the box heartbeats to
 * reached. Each EXCHANGE rewrites its box's verdict with the TTL of its registry entry, so the verdict of
 * a box that went silent goes when the box does; a revoked box's goes at once (BoxRegistry.remove).
 */
import type { Redis } from 'ioredis';
import { reachabilityKeys } from '../../../shared/src/redis-keys.js';
import { defineScripts } from '../../../shared/src/redis-scripts.js';
import { stringHash } from '../../../shared/src/redis-replies.js';
import { REACHABILITY_METHODS, REACHABILITY_STATES } from './verdict.js';
import type { PortProbe, ReachabilityMethod, ReachabilityState, Verdict } from './verdict.js';

export interface StoredVerdict {
  REACHABILITY: ReachabilityState;
  REACHABILITY_METHOD: ReachabilityMethod | null;
  REACHABILITY_ADVICE: string;
  /** The last probes, `role:port:outcome` comma-separated (e.g. `viewer:7072:ok,publisher:7071:refused`), '' while checking. */
  REACHABILITY_PROBES: string;
  /** When the verdict was written, seconds since the epoch. */
  REACHABILITY_AT: number;
}

export interface VerdictStoreDeps {
  redis: Redis;
  /** ENTRANCE_EXPIRE_BOX_TIME: the verdict lives as long as the box's registry entry. */
  expireSeconds: number;
  now?: () => number;
}

/**
 * A verdict and its TTL as one script call, which joins the heartbeat's other writes in one auto-pipelined
 * write (a MULTI goes to Redis on its own). KEYS: the box's verdict. ARGV: TTL seconds, then field/value pairs.
 */
const WRITE_SCRIPT = `
redis.call('HSET', KEYS[1], unpack(ARGV, 2))
redis.call('EXPIRE', KEYS[1], ARGV[1])
return 1`;

interface VerdictScripts {
  dandelionWriteVerdict(key: string, ttlSeconds: number, ...fields: string[]): Promise<number>;
}

export class VerdictStore {
  private readonly keys = reachabilityKeys();
  private readonly now: () => number;
  private readonly redis: Redis & VerdictScripts;

  constructor(private readonly deps: VerdictStoreDeps) {
    this.now = deps.now ?? Date.now;
    this.redis = defineScripts<VerdictScripts>(deps.redis, { dandelionWriteVerdict: { numberOfKeys: 1, lua: WRITE_SCRIPT } });
  }

  async write(boxId: string, verdict: Verdict, advice: string, probes: readonly PortProbe[] | undefined): Promise<void> {
    const key = this.keys.box(boxId);
    const probeText = (probes ?? []).map((p) => `${p.role}:${p.port}:${p.outcome}`).join(',');
    await this.redis.dandelionWriteVerdict(key, Math.ceil(this.deps.expireSeconds),
      'verdict', verdict.state, 'method', verdict.state === 'reachable' ? verdict.method : '', 'advice', advice, 'probes', probeText, 'at', String(Math.floor(this.now() / 1000)));
  }

  /** The stored verdicts of these boxes, in their order (null: none stored, or not one this version wrote). */
  async read(boxIds: readonly string[]): Promise<Array<StoredVerdict | null>> {
    if (boxIds.length === 0) return [];
    // One command per box, sent together by auto-pipelining: on a cluster the boxes' keys are in many
    // slots, which one pipeline cannot hold.
    return Promise.all(boxIds.map((id) => this.redis.hgetall(this.keys.box(id)).then(decodeStored, () => null)));
  }
}

function decodeStored(reply: unknown): StoredVerdict | null {
  let h: Record<string, string>;
  try {
    h = stringHash(reply);
  } catch {
    return null;
  }
  const state = REACHABILITY_STATES.find((s) => s === h.verdict);
  if (state === undefined) return null;
  const method = REACHABILITY_METHODS.find((m) => m === h.method) ?? null;
  return {
    REACHABILITY: state,
    REACHABILITY_METHOD: state === 'reachable' ? method : null,
    REACHABILITY_ADVICE: h.advice ?? '',
    REACHABILITY_PROBES: h.probes ?? '',
    REACHABILITY_AT: Number(h.at) || 0,
  };
}
