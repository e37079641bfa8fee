/** SEARCH from a publisher: the best live boxes, ranked (see registry/ranking.ts). */
import type { RankedBox, SearchReply, SearchRequest } from '../../../shared/src/protocol/index.js';
import type { HandlerContext } from '../context.js';

export async function handleSearch(msg: SearchRequest, ctx: HandlerContext): Promise<SearchReply> {
  const answered = ctx.metrics.searchTimer();
  let boxes: RankedBox[];
  try {
    await ctx.publisherRecords.record(msg);
    // Before the search, so a box the publisher just caught is already left out of its own reply.
    if (msg.QUARANTINE) await ctx.quarantine.record(msg.ID, msg.QUARANTINE);
    boxes = await ctx.registry.search(msg.GEOIP, ctx.config.AMOUNT_OF_BOXES_PER_REQUEST);
  } finally {
    answered();
  }
  const boxSet: Record<string, RankedBox> = {};
  for (const box of boxes) boxSet[box.ID] = box;
  const reply: SearchReply = {
    ...ctx.ownInfo(),
    TYPE: 'ENTRANCE',
    COMMAND: 'SEARCH',
    BOX_SET: boxSet,
    ENTRANCE_URLS: ctx.entranceUrls(),
  };
  // What lets the publisher store files on the boxes listed: they check it without asking back here.
  const grant = await ctx.trust.grantFor(msg.ID);
  if (grant !== undefined) reply.GRANT = grant;
  return reply;
}
