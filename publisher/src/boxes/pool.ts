/**
 * The boxes a publisher knows (from SEARCH) and the sockets it keeps to the MIN_HTTP_PEERS best of
 * them. Every SEARCH reply refreshes `{ID}:SEARCH:<box>` and the ranking `{ID}:BOX_RANKING`; a box
 * the entrance no longer lists is dropped, a box whose CONNECT_WS changed is reconnected, and a dead
 * socket is replaced by the next best box on the next maintenance pass.
 */
import type { Redis } from 'ioredis';
import type { Logger } from '../../../shared/src/log.js';
import { messageOf, toHash } from '../../../shared/src/protocol/index.js';
import type { BoxExchange, PublishRequest, RankedBox } from '../../../shared/src/protocol/index.js';
import type { PublisherKeys } from '../../../shared/src/redis-keys.js';
import { BoxConnection } from './box-connection.js';
import { boxScore } from './ranking.js';

export interface KnownBox {
  exchange: BoxExchange;
  /**
   * Where viewers fetch this box's files, ending in '/': the HTTP_URL of its exchange as the entrance's
   * SEARCH reply gave it, which the entrance checked names the box's own address. Never what the box says
   * of itself on the publisher's socket: a box taken over could send viewers anywhere.
   */
  httpUrl: string | undefined;
  /** The HTTPS_URL of its exchange (https: only, ending in '/'), for viewers on HTTPS pages; from SEARCH too. */
  httpsUrl: string | undefined;
  conn: BoxConnection | undefined;
  /** When opening a socket last failed, to wait before trying this box again. */
  failedAt?: number;
}

export interface PoolDeps {
  redis: Redis;
  keys: PublisherKeys;
  hello: () => PublishRequest;
  minPeers: number;
  sendTimeoutMs: number;
  maxFrameBytes: number;
  log: Logger;
  /** A socket to a box closed: its copies may be gone. */
  onBoxLost?(boxId: string): void;
  /** Boxes never to use, whatever SEARCH says (an audit caught them altering files). */
  isQuarantined?(boxId: string): boolean;
}

const RETRY_FAILED_BOX_MS = 10_000;

export class BoxPool {
  private readonly boxes = new Map<string, KnownBox>();
  private maintaining: Promise<void> | undefined;
  private stopping = false;

  constructor(private readonly deps: PoolDeps) {}

  /** Take a SEARCH reply's BOX_SET as the current fleet. */
  async update(boxSet: Record<string, RankedBox>): Promise<void> {
    const seen = new Set(Object.keys(boxSet).filter((id) => !this.deps.isQuarantined?.(id)));
    for (const [id, known] of this.boxes) {
      if (!seen.has(id)) {
        known.conn?.close();
        this.boxes.delete(id);
        this.deps.log.info({ box: id }, 'box no longer listed by the entrance; dropped');
      }
    }
    const tx = this.deps.redis.multi();
    for (const [id, exchange] of Object.entries(boxSet)) {
      if (!seen.has(id)) continue;
      const known = this.boxes.get(id);
      if (known && known.exchange.CONNECT_WS !== exchange.CONNECT_WS) {
        this.deps.log.info({ box: id, from: known.exchange.CONNECT_WS, to: exchange.CONNECT_WS }, 'box moved; reconnecting');
        known.conn?.close();
        known.conn = undefined;
      }
      const entry: KnownBox = known ?? { exchange, httpUrl: undefined, httpsUrl: undefined, conn: undefined };
      entry.exchange = exchange;
      entry.httpUrl = baseUrlOf(exchange.HTTP_URL, ['http:', 'https:']);
      entry.httpsUrl = baseUrlOf(exchange.HTTPS_URL, ['https:']);
      this.boxes.set(id, entry);
      tx.del(this.deps.keys.search(id)).hset(this.deps.keys.search(id), toHash(exchange));
    }
    await tx.exec();
    await this.saveRanking();
    await this.maintain();
  }

  /** Open sockets to the best boxes up to MIN_HTTP_PEERS; one pass at a time. */
  maintain(): Promise<void> {
    this.maintaining ??= this.openBest().finally(() => {
      this.maintaining = undefined;
    });
    return this.maintaining;
  }

  /** Send the current PUBLISH (with a fresh grant) on every open socket, before the one they showed expires. */
  renewGrant(): void {
    for (const b of this.boxes.values()) if (b.conn?.ready) b.conn.publishAgain(this.deps.hello());
  }

  /** Ready connections, best first. */
  ready(): BoxConnection[] {
    return this.ranked()
      .map((b) => b.conn)
      .filter((c): c is BoxConnection => c !== undefined && c.ready);
  }

  /** Stop using a box at once: its socket closes and it is forgotten until SEARCH lists it again. */
  drop(boxId: string): void {
    const known = this.boxes.get(boxId);
    if (!known) return;
    this.boxes.delete(boxId);
    known.conn?.close();
  }

  get(boxId: string): KnownBox | undefined {
    return this.boxes.get(boxId);
  }

  score(boxId: string): number {
    const b = this.boxes.get(boxId);
    return b ? boxScore(b.exchange, b.conn?.stats) : Number.NEGATIVE_INFINITY;
  }

  /** Close every socket. The boxes keep their copies, so nothing is reported lost. */
  stop(): void {
    this.stopping = true;
    for (const b of this.boxes.values()) b.conn?.close();
  }

  private ranked(): KnownBox[] {
    return [...this.boxes.values()].sort((a, b) => this.score(b.exchange.ID) - this.score(a.exchange.ID));
  }

  async saveRanking(): Promise<void> {
    const tx = this.deps.redis.multi().del(this.deps.keys.boxRanking);
    for (const b of this.boxes.values()) tx.zadd(this.deps.keys.boxRanking, this.score(b.exchange.ID), b.exchange.ID);
    await tx.exec();
  }

  private async openBest(): Promise<void> {
    const now = Date.now();
    const wanted = this.ranked()
      .filter((b) => b.httpUrl !== undefined && !(b.failedAt !== undefined && now - b.failedAt < RETRY_FAILED_BOX_MS))
      .slice(0, this.deps.minPeers);
    await Promise.all(
      wanted.filter((b) => b.conn === undefined).map(async (b) => {
        const conn = new BoxConnection(b.exchange.ID, b.exchange.CONNECT_WS, this.deps.hello(), {
          sendTimeoutMs: this.deps.sendTimeoutMs,
          maxFrameBytes: this.deps.maxFrameBytes,
          log: this.deps.log,
          onClose: (closed) => {
            if (b.conn !== closed) return;
            b.conn = undefined;
            if (!this.stopping && closed.stats.rttMs !== undefined) this.deps.onBoxLost?.(closed.boxId);
          },
        });
        b.conn = conn;
        try {
          await conn.open();
          delete b.failedAt;
          this.deps.log.info({ box: b.exchange.ID, rttMs: conn.stats.rttMs }, 'connected to box');
        } catch (err) {
          b.failedAt = Date.now();
          conn.close();
          this.deps.log.warn({ box: b.exchange.ID, err: messageOf(err) }, 'box unreachable; will retry later');
        }
      }),
    );
  }
}

/** An exchange's URL field as a base for viewer URLs (ending in '/'), when it is a URL of one of `protocols`. */
function baseUrlOf(raw: BoxExchange[string], protocols: readonly string[]): string | undefined {
  if (typeof raw !== 'string') return undefined;
  try {
    const u = new URL(raw);
    if (!protocols.includes(u.protocol)) return undefined;
    return u.href.endsWith('/') ? u.href : `${u.href}/`;
  } catch {
    return undefined;
  }
}
