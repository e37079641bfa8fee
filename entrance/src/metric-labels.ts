/**
 * Label sets on /metrics stay bounded: a label value per publisher or box is one more series for every
 * scrape to carry and for Prometheus to keep, and a box can name as many IDs as it likes. So a labelled
 * gauge shows at most MAX_LABEL_VALUES values: the largest, and the rest summed into OTHER_LABEL (no ID
 * is spelt like it: publisher and box IDs start with their kind), so the series still add up.
 */

/** Most label values one labelled gauge shows. */
export const MAX_LABEL_VALUES = 100;
export const OTHER_LABEL = 'other';

/**
 * `rows` (label value → number), largest first, as at most MAX_LABEL_VALUES rows: beyond it the smallest
 * are summed into OTHER_LABEL, together with `other` (what must not have a label of its own).
 */
export function boundedLabels(rows: ReadonlyArray<readonly [string, number]>, other = 0): Array<[string, number]> {
  const sorted = rows.map(([k, v]): [string, number] => [k, v]).sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  if (sorted.length <= MAX_LABEL_VALUES && other === 0) return sorted;
  if (sorted.length < MAX_LABEL_VALUES) return [...sorted, [OTHER_LABEL, other]];
  const rest = sorted.slice(MAX_LABEL_VALUES - 1).reduce((sum, [, v]) => sum + v, other);
  return [...sorted.slice(0, MAX_LABEL_VALUES - 1), [OTHER_LABEL, rest]];
}
