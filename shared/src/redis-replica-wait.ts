/**
 * Writes that must survive a Redis Cluster failover. A cluster master acknowledges a write before its
 * replica has it (replication is asynchronous): killed a moment later, the replica it fails over to never
 * had the write. For what the entrance tells a box, a publisher or an operator is done (an enrolment, a
 * token or an account made, traffic counted), that would be a loss nobody retries. So on a cluster the
 * entrance waits, after such a write and before saying it is done, until the replica of the key's master
 * has it (WAIT 1 on that master's connection, the one the write went through); when it does not come in
 * time the write counts as failed, the caller answers with an error, and the box, publisher or operator
 * tries again. What they retry is idempotent (the traffic fold's markers, the enrolment script), so a write
 * that did reach the replica late is not applied twice. docs/scale.md, "Writes that survive a failover".
 *
 * With one Redis nothing is waited for (as before: its durability is its own persistence), and neither for
 * a master with no replica connected (a cluster set up without replicas, or a master just promoted after
 * its own died): there is nothing to wait for, and waiting would refuse every write.
 */
import { Cluster, Command } from 'ioredis';
import type { Redis } from 'ioredis';

/** How long a write waits for its replica; replication takes about a millisecond on a healthy cluster. */
export const REPLICA_WAIT_MS = 1_000;
/** How long a master's count of connected replicas (ROLE), or a WAIT that timed out, is taken as still true. */
const REPLICA_COUNT_TTL_MS = 1_000;

export class NotReplicatedError extends Error {
  override name = 'NotReplicatedError';
  constructor(key: string) {
    super(`the write to ${key} did not reach its master's replica within ${REPLICA_WAIT_MS} ms (a Redis Cluster failover under way?); not acknowledged, to be retried`);
  }
}

/** Per client: a master's address → how many replicas it had connected, and when that was asked. */
const replicaCounts = new WeakMap<Cluster, Map<string, { count: number; at: number }>>();

/** Resolves once the latest write to `key`'s slot is on a replica too (or at once: one Redis, no replica); else throws NotReplicatedError. */
export async function awaitReplica(redis: Redis, key: string): Promise<void> {
  const client: unknown = redis;
  if (!(client instanceof Cluster)) return;
  // Any command naming the key gives its slot: ioredis hashes it as Redis does (CRC16 of the hash tag).
  const slot = new Command('exists', [key]).getSlot();
  if (slot === null) return;
  const replicas = await connectedReplicas(client, slot);
  if (replicas === 0) return;
  // A WAIT that timed out a moment ago: fail at once. WAIT holds the master's connection, which every
  // command to that master shares, so a lagging replica must not cost it a second's stall per write.
  if (replicas === LAGGING) throw new NotReplicatedError(key);
  // Routed to the slot's master through the connection the write used: WAIT counts that connection's writes.
  const acked = await client.sendCommand(new Command('wait', [1, REPLICA_WAIT_MS]), undefined, { slot });
  if (Number(acked) >= 1) return;
  replicaCounts.get(client)?.set(client.slots[slot]?.[0] ?? '', { count: LAGGING, at: Date.now() });
  throw new NotReplicatedError(key);
}

/** A master whose replica did not confirm the last WAIT in time. */
const LAGGING = -1;

/**
 * How many replicas the slot's master has connected, from the master itself (ROLE), not from the client's
 * map of the cluster: that map is only as fresh as its last refresh, and a replica it missed would leave
 * writes unconfirmed. WAIT on a master without replicas would only ever time out.
 */
async function connectedReplicas(client: Cluster, slot: number): Promise<number> {
  const master = client.slots[slot]?.[0] ?? '';
  const counts = replicaCounts.get(client) ?? new Map<string, { count: number; at: number }>();
  replicaCounts.set(client, counts);
  const known = counts.get(master);
  if (known !== undefined && Date.now() - known.at < REPLICA_COUNT_TTL_MS) return known.count;
  const role: unknown = await client.sendCommand(new Command('role', [], { replyEncoding: 'utf8' }), undefined, { slot });
  // A master answers ['master', offset, [[host, port, offset], …]]; anything else is not the master: ask WAIT, which says so.
  const count = Array.isArray(role) && role[0] === 'master' && Array.isArray(role[2]) ? role[2].length : 1;
  counts.set(master, { count, at: Date.now() });
  return count;
}
