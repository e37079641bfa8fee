/**
 * Revocations made through any entrance sharing this Redis reach this one at once: revoking or
 * forgetting a box (store.ts) or revoking a publisher (publishers/accounts.ts) publishes its ID, and this
 * entrance then closes the sockets that peer authenticated here (and drops a box from the registry). The
 * check on every heartbeat and every SEARCH (handlers/) covers a message missed while the subscription was down.
 */
import type { Redis } from 'ioredis';
import type { WebSocket } from 'ws';
import type { Logger } from '../../../shared/src/log.js';
import { Close, isIdOf } from '../../../shared/src/protocol/index.js';
import { enrolmentKeys } from '../../../shared/src/redis-keys.js';
import type { BoxRegistry } from '../registry/registry.js';
import { connectClient, duplicateClient, keyLayoutOfClient } from '../../../shared/src/redis.js';

export interface RevocationWatchDeps {
  redis: Redis;
  registry: Pick<BoxRegistry, 'remove'>;
  log: Logger;
}

export class RevocationWatch {
  /** Sockets of authenticated boxes and publishers, by their ID. */
  private readonly peerSockets = new Map<string, Set<WebSocket>>();
  /** A subscribed connection can run no other command, so it is a second one. */
  private readonly subscriber: Redis;

  constructor(private readonly deps: RevocationWatchDeps) {
    this.subscriber = duplicateClient(deps.redis);
    this.subscriber.on('error', (err: Error) => deps.log.debug({ err: err.message }, 'revocation subscriber error'));
    this.subscriber.on('message', (_channel: string, peerId: string) => this.revoked(peerId));
  }

  async start(): Promise<void> {
    await connectClient(this.subscriber, this.deps.log);
    await this.subscriber.subscribe(enrolmentKeys(keyLayoutOfClient(this.deps.redis)).revokedChannel);
  }

  stop(): void {
    this.subscriber.disconnect();
  }

  /** Close `ws` when the enrolment of `peerId` (a box or a publisher) is revoked; forgotten once the socket closes. */
  track(ws: WebSocket, peerId: string): void {
    const set = this.peerSockets.get(peerId) ?? new Set<WebSocket>();
    set.add(ws);
    this.peerSockets.set(peerId, set);
    ws.once('close', () => {
      set.delete(ws);
      if (set.size === 0 && this.peerSockets.get(peerId) === set) this.peerSockets.delete(peerId);
    });
  }

  private revoked(peerId: string): void {
    for (const ws of this.peerSockets.get(peerId) ?? []) ws.close(Close.REVOKED, 'enrolment revoked');
    if (!isIdOf(peerId, 'BOX')) return;
    this.deps.registry.remove(peerId).catch((err: unknown) => this.deps.log.warn({ err, box: peerId }, 'could not drop a revoked box from the registry'));
  }
}
