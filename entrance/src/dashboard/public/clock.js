/* The entrance's clock: every summary event carries its NOW, which corrects this browser's clock. */

let skew = 0;

/** Seconds since the epoch by the entrance's clock. */
export const serverNow = () => Date.now() / 1000 + skew;

export function syncClock(entranceNowS) {
  skew = entranceNowS - Date.now() / 1000;
}
