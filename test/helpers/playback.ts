/**
 * What a browser test reads from the player: samples of the video's clock taken every 100 ms in the page
 * (window.samples), and from them the longest stall and how much video played over how much wall time.
 */

/** One sample: page time (ms), the video's currentTime (s), and whether it was paused. */
export interface Sample { at: number; ct: number; paused: boolean }

export interface Playback {
  /** Longest stretch (ms) in which the video neither advanced nor was paused. */
  stallMs: number;
  /** Seconds of video played between the first and the last sample. */
  playedS: number;
  /** Seconds of wall time between the first and the last sample. */
  wallS: number;
}

export function playbackOf(samples: readonly Sample[]): Playback {
  const first = samples[0];
  const last = samples[samples.length - 1];
  if (first === undefined || last === undefined) return { stallMs: 0, playedS: 0, wallS: 0 };
  let stallMs = 0;
  let since = first;
  for (const s of samples) {
    if (s.ct > since.ct || s.paused) since = s;
    else stallMs = Math.max(stallMs, s.at - since.at);
  }
  return { stallMs, playedS: last.ct - first.ct, wallS: (last.at - first.at) / 1000 };
}
