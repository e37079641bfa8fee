/** SEARCH from a publisher: the best live boxes, ranked (see registry/ranking.ts). */
import type { RankedBox, SearchReply, SearchRequest } from '../../../shared/src/protocol/index.js';
import type { EntranceState } from '../state.js';

export async function handleSearch(msg: SearchRequest, state: EntranceState): Promise<SearchReply> {
  const answered = state.metrics.searchTimer();
  let boxes: RankedBox[];
  try {
    await state.publishers.record(msg);
    boxes = await state.registry.search(msg.GEOIP, state.config.AMOUNT_OF_BOXES_PER_REQUEST);
  } finally {
    answered();
  }
  const boxSet: Record<string, RankedBox> = {};
  for (const box of boxes) boxSet[box.ID] = box;
  return {
    ...state.ownInfo(),
    TYPE: 'ENTRANCE',
    COMMAND: 'SEARCH',
    BOX_SET: boxSet,
    ENTRANCE_URLS: state.entranceUrls(),
  };
}
