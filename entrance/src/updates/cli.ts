/**
 * `dandelion entrance release|rollout|group …`: updates over the air from a shell, against the fleet's Redis
 * (the entrance's config names it), as the other operator commands (docs/updates.md). A refused upload or
 * rollout exits 2 with the reason, having stored nothing.
 */
import { createReadStream, readFileSync } from 'node:fs';
import { UsageError } from '../../../shared/src/cli.js';
import type { EntranceConfig } from '../../../shared/src/config/schemas.js';
import { withEntranceRedis } from '../operator-command.js';
import type { Answer } from '../operator-command.js';
import { ReleaseRefused, ReleaseStore } from './release-store.js';
import type { StoredRelease } from './release-store.js';
import { RolloutRefused, Rollouts } from './rollouts.js';
import type { RolloutStatus, StartRequest } from './rollouts.js';
import { trustedReleaseKeys } from '../../../shared/src/release/trusted-keys.js';
import type { ReleaseKeys } from '../../../shared/src/release/trusted-keys.js';

export const UPDATES_HELP = `Updates over the air (docs/updates.md):
  dandelion entrance release upload --binary FILE --release FILE.release
                                       check a signed release and store it for boxes
  dandelion entrance release list      the stored releases
  dandelion entrance release remove VERSION ARCH
  dandelion entrance rollout start --version V (--percent P | --group NAME) [--stages 1,10,50,100]
                                       [--stage-seconds 1800] [--heartbeat-seconds 5]
  dandelion entrance rollout status|pause|resume|rollback
  dandelion entrance group add NAME BOX…   group remove NAME [BOX…]   group list`;

/** The option names these commands take (main.ts's parser). */
export const UPDATES_OPTIONS = {
  binary: { type: 'string' }, release: { type: 'string' }, version: { type: 'string' }, percent: { type: 'string' }, group: { type: 'string' },
  stages: { type: 'string' }, 'stage-seconds': { type: 'string' }, 'heartbeat-seconds': { type: 'string' },
} as const;

export function isUpdatesCommand(words: string[]): boolean {
  return words[0] === 'release' || words[0] === 'rollout' || words[0] === 'group';
}

type Values = Record<string, unknown>;
const str = (values: Values, name: string): string | undefined => (typeof values[name] === 'string' ? (values[name] as string) : undefined);

function numberOption(values: Values, name: string): number | undefined {
  const text = str(values, name);
  if (text === undefined) return undefined;
  const n = Number(text);
  if (text.trim() === '' || !Number.isFinite(n)) throw new UsageError(`--${name}: not a number: ${text}`);
  return n;
}

function unknown(words: string[]): UsageError {
  return new UsageError(`entrance: unknown command "${words.join(' ')}"\n${UPDATES_HELP}`);
}

/** `keys`: the trusted release keys; main passes none (trustedReleaseKeys), tests their own. */
export async function updatesCommand(config: EntranceConfig, words: string[], values: Values, keys: () => ReleaseKeys = trustedReleaseKeys): Promise<void> {
  const [noun, verb, ...rest] = words;
  await withEntranceRedis(config, values.json === true, async (redis, out) => {
    const releases = new ReleaseStore(redis, keys);
    const rollouts = new Rollouts({ redis, activeSeconds: config.ENTRANCE_EXPIRE_BOX_TIME, releaseUrl: () => '' });
    try {
      if (noun === 'release') return await releaseCommand(releases, verb, rest, values, out, words);
      if (noun === 'rollout') return await rolloutCommand(rollouts, verb, rest, values, out, words);
      return await groupCommand(rollouts, verb, rest, out, words);
    } catch (err) {
      if (err instanceof ReleaseRefused || err instanceof RolloutRefused) throw new UsageError(`entrance ${noun} ${verb}: ${err.message}`);
      throw err;
    }
  });
}

const releaseLine = (r: StoredRelease): string => `${r.VERSION}  ${r.ARCH}  ${r.SIZE} bytes  sha256 ${r.SHA256}  key ${r.KEY_ID}${r.ALLOW_DOWNGRADE ? '  downgrade allowed' : ''}`;

async function releaseCommand(releases: ReleaseStore, verb: string | undefined, rest: string[], values: Values, out: Answer, words: string[]): Promise<void> {
  if (verb === 'upload' && rest.length === 0) {
    const binary = str(values, 'binary');
    const releaseFile = str(values, 'release');
    if (binary === undefined || releaseFile === undefined) throw new UsageError('entrance release upload: name --binary FILE and --release FILE.release');
    let line: string;
    try {
      line = readFileSync(releaseFile, 'utf8');
    } catch (err) {
      throw new UsageError(`entrance release upload: --release: ${(err as Error).message}`);
    }
    releases.check(line); // before the binary is opened
    const stored = await releases.upload(line, createReadStream(binary, { highWaterMark: 1024 * 1024 }));
    return out(stored, `stored ${releaseLine(stored)}`);
  }
  if (verb === 'list' && rest.length === 0) {
    const all = await releases.list();
    return out({ RELEASES: all }, all.map(releaseLine).join('\n') || '(no releases)');
  }
  if (verb === 'remove' && rest.length === 2) {
    const [version, arch] = rest as [string, string];
    if (!(await releases.remove(version, arch))) throw new UsageError(`entrance release remove: no release ${version} for ${arch}`);
    return out({ VERSION: version, ARCH: arch, ACTION: 'remove' }, `release ${version} for ${arch} removed`);
  }
  throw unknown(words);
}

function statusText(s: RolloutStatus): string {
  const versions = Object.entries(s.VERSIONS).sort().map(([v, n]) => `${v}: ${n}`).join(', ') || 'none reported';
  const r = s.ROLLOUT;
  if (r === null) return `no rollout\nboxes by version: ${versions}`;
  const target = r.GROUP === undefined ? `${r.PERCENT} % of the boxes` : `group ${r.GROUP}`;
  return [
    `rollout ${r.ID}: ${r.VERSION} to ${target}, ${r.STATE.toUpperCase()}${r.REASON ? ` (${r.REASON})` : ''}`,
    `stage ${r.STAGE + 1} of ${r.STAGES.length} (${r.STAGE_PERCENT} %; stages ${r.STAGES.join(',')}), each held ${r.STAGE_SECONDS} s while healthy`,
    `offered ${r.OFFERED}, updated ${r.UPDATED}, failed ${r.FAILED}`,
    `boxes by version: ${versions}`,
  ].join('\n');
}

async function rolloutCommand(rollouts: Rollouts, verb: string | undefined, rest: string[], values: Values, out: Answer, words: string[]): Promise<void> {
  if (rest.length > 0) throw unknown(words);
  if (verb === 'start') {
    const version = str(values, 'version');
    if (version === undefined) throw new UsageError('entrance rollout start: name --version V');
    const stagesText = str(values, 'stages');
    const stages = stagesText?.split(',').map((s) => Number(s.trim()));
    const req: StartRequest = { version };
    const percent = numberOption(values, 'percent');
    const group = str(values, 'group');
    const stageSeconds = numberOption(values, 'stage-seconds');
    const heartbeatSeconds = numberOption(values, 'heartbeat-seconds');
    if (percent !== undefined) req.percent = percent;
    if (group !== undefined) req.group = group;
    if (stages !== undefined) req.stages = stages;
    if (stageSeconds !== undefined) req.stageSeconds = stageSeconds;
    if (heartbeatSeconds !== undefined) req.heartbeatSeconds = heartbeatSeconds;
    const r = await rollouts.start(req);
    return out({ ROLLOUT: r }, `rollout ${r.ID} started: ${r.VERSION}, stages ${r.STAGES.join(',')} %`);
  }
  if (verb === 'status') {
    const s = await rollouts.status();
    return out(s, statusText(s));
  }
  const step = verb === 'pause' ? () => rollouts.pause() : verb === 'resume' ? () => rollouts.resume() : verb === 'rollback' ? () => rollouts.rollback() : undefined;
  if (step === undefined) throw unknown(words);
  const r = await step();
  return out({ ROLLOUT: r }, `rollout ${r.ID} is ${r.STATE}`);
}

async function groupCommand(rollouts: Rollouts, verb: string | undefined, rest: string[], out: Answer, words: string[]): Promise<void> {
  const [name, ...boxes] = rest;
  if (verb === 'list' && rest.length === 0) {
    const groups = await rollouts.groups();
    return out({ GROUPS: groups }, Object.entries(groups).map(([n, ids]) => `${n}: ${ids.join(' ')}`).join('\n') || '(no groups)');
  }
  if ((verb === 'add' || verb === 'remove') && name !== undefined) {
    const changed = verb === 'add' ? await rollouts.addToGroup(name, boxes) : await rollouts.removeFromGroup(name, boxes);
    return out({ GROUP: name, ACTION: verb, CHANGED: changed }, `group ${name}: ${changed} ${verb === 'add' ? 'added' : 'removed'}`);
  }
  throw unknown(words);
}
