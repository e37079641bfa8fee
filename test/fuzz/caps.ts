/**
 * What the fuzz suite allows a role to keep after it, in one place.
 *
 * Records written for peers nobody authenticated (a SEARCH at the entrance, a PUBLISH at a box) expire
 * and are capped in number by MAX_PUBLISHER_RECORDS (issue 14, item 3); the fuzz sends many more such
 * IDs than the cap, so what it may leave is the cap times what one publisher's record costs, counted as
 * harness.ts's redisRecords counts (keys, set and sorted-set members, fields of shared hashes):
 *   entrance: its field in {ID}:PUBLISHERS and member of {ID}:PUBLISHERS_SEEN, its ORIGIN counter and
 *             its members of ORIGIN:PUBLISHERS and ORIGIN:SEEN (5);
 *   box:      its SUBSCRIBE and EXCHANGE hashes and its member of {ID}:PUBLISHER_RECORDS (3);
 * plus a little of the role's own bookkeeping that moves while the fuzz runs (traffic offsets, the
 * valid box's history). Files a fuzzed publisher got stored ({ID}:EXPIRE_FILES) are not counted: they
 * are bounded by disk and their TTL, not by this cap.
 */
import { loadRoleConfig } from '../../shared/src/config/load.js';

/** The roles as the fuzz runs them: with their default caps. */
const entranceDefaults = loadRoleConfig('entrance', undefined, {}).config;
const agentDefaults = loadRoleConfig('agent', undefined, { DANDELION_ID: 'box-caps' }).config;

/** Redis entries one stranger publisher's record costs (see above). */
const ENTRIES_PER_PUBLISHER = { entrance: 5, agent: 3 } as const;
/** The role's own records that change during a run, whoever sends what. */
const OWN_BOOKKEEPING = 50;

/** Lasting Redis entries a fuzz run may add to each role's Redis. */
export const LASTING_RECORDS_CAP = {
  entrance: entranceDefaults.MAX_PUBLISHER_RECORDS * ENTRIES_PER_PUBLISHER.entrance + OWN_BOOKKEEPING,
  agent: agentDefaults.MAX_PUBLISHER_RECORDS * ENTRIES_PER_PUBLISHER.agent + OWN_BOOKKEEPING,
  /** The publisher takes nothing from strangers into Redis. */
  publisher: 0,
} as const;

/** RSS after the fuzz may be at most this many times the idle RSS measured after the warm-up. */
export const RSS_GROWTH_LIMIT = 1.5;

/** Keys the record count leaves out (see above). */
export const NOT_COUNTED = (key: string): boolean => key.endsWith(':EXPIRE_FILES');
