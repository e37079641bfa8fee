/**
 * UPDATE_DIRECTORY/state: which update slot the launcher starts (firmware-image/dandelion-agent-run reads it
 * in bash, without eval) and what the last update did. key=value lines; written only as temp + fsync +
 * rename + fsync of the folder, by the agent here and by the launcher, so a power cut leaves the old state
 * or the new one. Values are checked as strictly as the launcher checks them: a state either side finds
 * unreadable makes the launcher start the factory binary.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { writeFileAtomic } from '../../../shared/src/fs-atomic.js';

export type Slot = 'a' | 'b';
export type SlotOrFactory = Slot | 'factory';

export interface UpdateState {
  current: SlotOrFactory;
  current_version: string;
  /** The slot and version the current one replaced: where a `revert` offer goes back to. */
  previous: SlotOrFactory | '';
  previous_version: string;
  trial: Slot | '';
  trial_version: string;
  /** Unix seconds by which the trial must be confirmed. */
  trial_deadline: number;
  trial_starts: number;
  failed_version: string;
  failed_reason: string;
}

export const EMPTY_STATE: UpdateState = {
  current: 'factory', current_version: '', previous: '', previous_version: '', trial: '', trial_version: '',
  trial_deadline: 0, trial_starts: 0, failed_version: '', failed_reason: '',
};

const KEYS = Object.keys(EMPTY_STATE) as Array<keyof UpdateState>;
const VERSION_TEXT = /^[0-9A-Za-z.+-]{0,64}$/;

export const stateFile = (dir: string): string => path.join(dir, 'state');
export const slotBinary = (dir: string, slot: Slot): string => path.join(dir, `slot-${slot}`, 'dandelion');

/** The state, EMPTY_STATE when there is none, or what is wrong with it. */
export async function readUpdateState(dir: string): Promise<UpdateState | { unreadable: string }> {
  let text: string;
  try {
    text = await readFile(stateFile(dir), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { ...EMPTY_STATE };
    return { unreadable: `cannot read ${stateFile(dir)}: ${(err as Error).message}` };
  }
  return parseUpdateState(text);
}

export function parseUpdateState(text: string): UpdateState | { unreadable: string } {
  const state: UpdateState = { ...EMPTY_STATE };
  for (const line of text.split('\n')) {
    const eq = line.indexOf('=');
    if (eq < 0) continue;
    const key = line.slice(0, eq) as keyof UpdateState;
    const value = line.slice(eq + 1);
    if (!KEYS.includes(key)) continue; // a later version's key
    const bad = (): { unreadable: string } => ({ unreadable: `the update state's ${key} is ${JSON.stringify(value.slice(0, 40))}` });
    switch (key) {
      case 'current':
        if (value !== 'a' && value !== 'b' && value !== 'factory') return bad();
        state.current = value;
        break;
      case 'previous':
        if (value !== 'a' && value !== 'b' && value !== 'factory' && value !== '') return bad();
        state.previous = value;
        break;
      case 'trial':
        if (value !== 'a' && value !== 'b' && value !== '') return bad();
        state.trial = value;
        break;
      case 'trial_deadline':
      case 'trial_starts':
        if (!/^[0-9]{1,12}$/.test(value)) return bad();
        state[key] = Number(value);
        break;
      case 'failed_reason':
        state.failed_reason = value.slice(0, 300);
        break;
      default:
        if (!VERSION_TEXT.test(value)) return bad();
        state[key] = value;
    }
  }
  return state;
}

/** `beforeRename`: called with the new state's temp file written and fsynced, before it replaces the old one. */
export async function writeUpdateState(dir: string, state: UpdateState, beforeRename?: () => void): Promise<void> {
  // One line each, nothing the launcher's `read` could split: no newline in a reason.
  const lines = KEYS.map((k) => `${k}=${String(state[k]).replace(/[\r\n]/g, ' ')}`);
  await writeFileAtomic(stateFile(dir), `${lines.join('\n')}\n`, 0o644, beforeRename);
}

/** The temp files of state writes a kill or a power cut interrupted (writeFileAtomic's `.state.<random>.tmp`). */
export const isStateTempFile = (name: string): boolean => /^\.state\.[0-9a-f]+\.tmp$/.test(name);

/** The slot an install writes: never the one that runs now, nor the one a revert would go back to when it can be helped. */
export function inactiveSlot(state: UpdateState): Slot {
  if (state.current === 'a') return 'b';
  if (state.current === 'b') return 'a';
  return state.previous === 'a' ? 'b' : 'a';
}
