/** No clock showing a time before this can be right: this code did not exist then. Boxes boot without a battery-backed clock. */
export const EARLIEST_PLAUSIBLE_MS = Date.parse('2026-01-01T00:00:00Z');
