/**
 * A fleet token's limits as operators write them, for the CLI (`--expires 30d --uses 100`) and the
 * dashboard API (`{EXPIRES, USES}`) alike. Each refusal names the option or field it came from.
 */
const UNIT_SECONDS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400, w: 7 * 86400 };
const MAX_EXPIRY_SECONDS = 366 * 86400;

export class TokenLimitError extends Error {
  override name = 'TokenLimitError';
}

/** "30d", "12h", "90m", "3600s", "2w" → seconds; "never" → 0. `name` is the option or field, for the message. */
export function parseDuration(text: string, name: string): number {
  if (text === 'never') return 0;
  const m = /^(\d{1,6})([smhdw])$/.exec(text);
  const unitSeconds = m?.[2] === undefined ? undefined : UNIT_SECONDS[m[2]];
  if (!m || unitSeconds === undefined) throw new TokenLimitError(`${name}: "${text}" is not a duration such as 30d, 12h, 90m or never`);
  const seconds = Number(m[1]) * unitSeconds;
  if (seconds < 60 || seconds > MAX_EXPIRY_SECONDS) throw new TokenLimitError(`${name}: between 1 minute and 366 days, or never`);
  return seconds;
}

export function parseUses(text: string, name: string): number {
  const n = Number(text);
  if (!/^\d+$/.test(text) || n < 1 || n > 1_000_000) throw new TokenLimitError(`${name}: "${text}" is not a whole number from 1 to 1000000`);
  return n;
}
