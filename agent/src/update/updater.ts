/**
 * Updates over the air, the box's side (docs/updates.md). An `install` offer in an EXCHANGE reply is
 * checked (the release signed by a trusted key, for this box, allowed from the running version), its
 * binary downloaded with resume and checked (size, SHA-256), written to the inactive slot, and the state
 * told to try it: then the agent exits with EXIT_FOR_UPDATE and the launcher starts the new binary as a
 * trial. The trial agent confirms itself once an entrance accepts its EXCHANGE; one that never does is
 * rolled back by the launcher. A refused offer changes nothing on disk; it is reported in the next
 * EXCHANGEs (UPDATE_FAILED) so the rollout sees it.
 */
import { chmod, mkdir, readdir, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import type { KeyObject } from 'node:crypto';
import { failpoint } from '../../../shared/src/failpoint.js';
import { fsyncDir, fsyncPath } from '../../../shared/src/fs-atomic.js';
import type { Logger } from '../../../shared/src/log.js';
import type { BoxExchange, UpdateOffer } from '../../../shared/src/protocol/messages.js';
import { RELEASE_ARCHES, updateRefusal, verifyRelease } from '../../../shared/src/release/manifest.js';
import { isOneOf } from '../../../shared/src/protocol/fields.js';
import type { ReleaseManifest } from '../../../shared/src/release/manifest.js';
import { downloadResumable, sha256OfFile } from './download.js';
import { inactiveSlot, isStateTempFile, readUpdateState, slotBinary, writeUpdateState } from './state.js';
import type { UpdateState } from './state.js';

/**
 * The steps of an update, in order, each a failpoint (shared/src/failpoint.ts) at its boundary: a test
 * SIGKILLs the agent there and checks that the launcher still starts a working agent
 * (agent/test/update/kill-at-each-step.test.ts runs every one of them).
 */
export const UPDATE_STEPS = [
  /** The download's first bytes are in download.part: it is partial. */
  'update:downloading',
  /** download.part is complete and fsynced, its SHA-256 not checked yet. */
  'update:downloaded',
  /** Its SHA-256 is the release's. */
  'update:verified',
  /** The slot's temp file (download.part) is executable and fsynced, not yet renamed into the slot. */
  'update:slot-temp-written',
  /** Renamed into the inactive slot, both folders fsynced; the state does not name it yet. */
  'update:slot-renamed',
  /** The state naming the trial is in its temp file, fsynced, not renamed over the state yet. */
  'update:trial-temp-written',
  /** The state names the trial; the agent has not stopped for the exit 75 yet. */
  'update:trial-written',
  /** The agent has stopped cleanly (nginx, Redis) for the trial; exit 75 is next (agent/src/main.ts). */
  'update:exiting',
  /** The trial agent was accepted by an entrance; its confirmation is not written yet. */
  'update:confirming',
  /** The confirmation (current=trial) is in its temp file, fsynced, not renamed over the state yet. */
  'update:confirm-temp-written',
  /** The confirmation is written. */
  'update:confirm-written',
] as const;

export type UpdateStep = (typeof UPDATE_STEPS)[number];

const step = (name: UpdateStep): void => failpoint(name);

/** EX_TEMPFAIL: "start me again", which the launcher's restart does, now from the trial slot. */
export const EXIT_FOR_UPDATE = 75;

export interface UpdaterDeps {
  /** UPDATE_DIRECTORY. */
  dir: string;
  /** UPDATE_CONFIRM_S: how long a new version has to be accepted by an entrance. */
  confirmS: number;
  version: string;
  /** As releases name it: x64, arm64, armv7. */
  arch: string;
  keys: ReadonlyMap<string, KeyObject>;
  /** The download rate the household's budget allows now (Mbit/s; undefined: unpaced, 0: not now). */
  downloadMbit(): number | undefined;
  /** Stop the agent cleanly and exit with EXIT_FOR_UPDATE. */
  exitForUpdate(): void;
  log: Logger;
  now?: () => number;
}

/** Node's process.arch as releases name it (RELEASE_ARCHES). */
export function releaseArch(arch: string = process.arch): string {
  return arch === 'arm' ? 'armv7' : arch;
}

export class Updater {
  private state: UpdateState | undefined;
  /** An offer refused in this run: reported, never written (nothing on disk changes). */
  private refused: { version: string; reason: string } | undefined;
  private busy = false;
  private exiting = false;

  constructor(private readonly deps: UpdaterDeps) {}

  /** Reads the state once at start; an unreadable one is reported and left for the launcher's factory fallback. */
  async start(): Promise<void> {
    const read = await readUpdateState(this.deps.dir);
    if ('unreadable' in read) {
      this.deps.log.error({ dir: this.deps.dir, problem: read.unreadable }, 'update state unreadable; updates are off until it is fixed');
      this.refused = { version: this.deps.version, reason: read.unreadable };
      return;
    }
    this.state = read;
    await this.dropStateTempFiles();
    if (read.failed_version !== '') this.deps.log.warn({ version: read.failed_version, reason: read.failed_reason }, 'an update was rolled back');
  }

  /** A state write cut short (kill, power cut) leaves its temp file: never read, removed at the next start. */
  private async dropStateTempFiles(): Promise<void> {
    const names = await readdir(this.deps.dir).catch((): string[] => []);
    for (const name of names.filter(isStateTempFile)) await rm(path.join(this.deps.dir, name), { force: true });
  }

  /** AGENT_VERSION, AGENT_ARCH, AGENT_PREVIOUS_VERSION, UPDATE_FAILED, UPDATE_FAILED_REASON for every EXCHANGE. */
  exchangeFields(): Pick<BoxExchange, 'AGENT_VERSION' | 'AGENT_ARCH' | 'AGENT_PREVIOUS_VERSION' | 'UPDATE_FAILED' | 'UPDATE_FAILED_REASON'> {
    const s = this.state;
    const failed = this.refused ?? (s && s.failed_version !== '' ? { version: s.failed_version, reason: s.failed_reason } : undefined);
    return {
      AGENT_VERSION: this.deps.version,
      // An architecture no release is built for is left out: the entrance refuses an EXCHANGE naming one.
      ...(isOneOf(RELEASE_ARCHES, this.deps.arch) ? { AGENT_ARCH: this.deps.arch } : {}),
      AGENT_PREVIOUS_VERSION: s && this.isConfirmed(s) ? s.previous_version : '',
      UPDATE_FAILED: failed?.version ?? '',
      UPDATE_FAILED_REASON: failed?.reason.slice(0, 300) ?? '',
    };
  }

  /** An entrance accepted an EXCHANGE: a trial of this version is confirmed; then any offer is handled. */
  async accepted(offer: UpdateOffer | undefined): Promise<void> {
    if (this.state === undefined || this.exiting) return;
    if (this.state.trial !== '' && this.state.trial_version === this.deps.version) await this.confirm(this.state);
    if (offer !== undefined && !this.busy) {
      this.busy = true;
      try {
        await (offer.ACTION === 'install' ? this.install(offer) : this.revert(offer));
      } finally {
        this.busy = false;
      }
    }
  }

  private isConfirmed(s: UpdateState): boolean {
    return s.trial === '' || s.trial_version !== this.deps.version;
  }

  private async confirm(s: UpdateState): Promise<void> {
    step('update:confirming');
    const next: UpdateState = {
      ...s, previous: s.current, previous_version: s.current_version, current: s.trial as 'a' | 'b', current_version: s.trial_version,
      trial: '', trial_version: '', trial_deadline: 0, trial_starts: 0, failed_version: '', failed_reason: '',
    };
    await writeUpdateState(this.deps.dir, next, () => step('update:confirm-temp-written'));
    step('update:confirm-written');
    this.state = next;
    this.refused = undefined;
    this.deps.log.info({ version: next.current_version, slot: next.current, previous: next.previous_version }, 'update confirmed: an entrance accepted this version');
  }

  private refuse(offer: UpdateOffer, reason: string): void {
    if (this.refused?.version !== offer.VERSION || this.refused.reason !== reason) {
      this.deps.log.warn({ version: offer.VERSION, rollout: offer.ROLLOUT, reason }, 'update refused');
    }
    this.refused = { version: offer.VERSION, reason };
  }

  private async install(offer: UpdateOffer): Promise<void> {
    const s = this.state as UpdateState;
    if (this.refused?.version === offer.VERSION) return; // reported; the rollout stops offering it
    // While a trial is pending no offer is taken, whoever runs: its slot and deadline are the launcher's now.
    if (s.trial !== '') return;
    const check = verifyRelease(offer.RELEASE, this.deps.keys);
    if (!check.ok) return this.refuse(offer, check.reason);
    const m = check.manifest;
    if (m.VERSION !== offer.VERSION) return this.refuse(offer, `the offer is for ${offer.VERSION} but its release is ${m.VERSION}`);
    const refusal = updateRefusal(m, this.deps.version, this.deps.arch);
    if (refusal !== undefined) return this.refuse(offer, refusal);
    if (this.deps.downloadMbit() === 0) return; // the household's budget allows no download now; a later offer resumes
    const part = path.join(this.deps.dir, 'download.part');
    await mkdir(this.deps.dir, { recursive: true });
    this.deps.log.info({ version: m.VERSION, rollout: offer.ROLLOUT, bytes: m.SIZE }, 'downloading an update');
    try {
      await downloadResumable({ url: offer.URL as string, file: part, size: m.SIZE, maxMbit: this.deps.downloadMbit, wrote: () => step('update:downloading') });
    } catch (err) {
      // Not a refusal: the part file stays for the next offer to resume.
      this.deps.log.warn({ version: m.VERSION, err: (err as Error).message }, 'update download interrupted');
      return;
    }
    step('update:downloaded');
    if ((await sha256OfFile(part)) !== m.SHA256) {
      await rm(part, { force: true });
      return this.refuse(offer, 'the downloaded binary does not match the release\'s SHA-256');
    }
    step('update:verified');
    await this.stage(m, part, s);
  }

  /** The checked binary into the inactive slot, then the state names it the trial: each step durable before the next. */
  private async stage(m: ReleaseManifest, part: string, s: UpdateState): Promise<void> {
    const slot = inactiveSlot(s);
    const target = slotBinary(this.deps.dir, slot);
    await mkdir(path.dirname(target), { recursive: true });
    await chmod(part, 0o755);
    // fsynced here, not only when its download ended: a download completed by an earlier run that was killed
    // before its fsync is complete in the page cache only, and a power cut after the state names the slot
    // would leave a trial of a torn binary. This fsync also makes the chmod durable.
    await fsyncPath(part);
    step('update:slot-temp-written');
    // The rename is made durable by fsyncing both folders.
    await rename(part, target);
    await fsyncDir(path.dirname(target));
    await fsyncDir(this.deps.dir);
    step('update:slot-renamed');
    const next: UpdateState = {
      ...s, current_version: s.current_version || this.deps.version, trial: slot, trial_version: m.VERSION,
      trial_deadline: Math.floor((this.deps.now?.() ?? Date.now()) / 1000) + this.deps.confirmS, trial_starts: 0,
    };
    await writeUpdateState(this.deps.dir, next, () => step('update:trial-temp-written'));
    step('update:trial-written');
    this.state = next;
    this.deps.log.info({ version: m.VERSION, slot, deadlineS: this.deps.confirmS }, 'update staged; restarting into it');
    this.exiting = true;
    this.deps.exitForUpdate();
  }

  /** Back to the version in the other slot, which must be the one the offer names. */
  private async revert(offer: UpdateOffer): Promise<void> {
    const s = this.state as UpdateState;
    if (s.trial !== '') return;
    if (s.previous === '' || s.previous_version !== offer.VERSION) {
      return this.refuse(offer, `cannot revert to ${offer.VERSION}: the other slot holds ${s.previous_version || 'nothing'}`);
    }
    const next: UpdateState = { ...s, current: s.previous, current_version: s.previous_version, previous: s.current, previous_version: s.current_version || this.deps.version };
    await writeUpdateState(this.deps.dir, next);
    this.state = next;
    this.deps.log.info({ version: offer.VERSION, slot: next.current, rollout: offer.ROLLOUT }, 'reverting; restarting into the previous version');
    this.exiting = true;
    this.deps.exitForUpdate();
  }
}
