/**
 * Signed releases of the box agent (docs/updates.md). A release is a binary and its manifest: what the
 * binary is (version, architecture, size, SHA-256) and which running versions may take it, signed with the
 * operator's Ed25519 release key. The release key is not the entrance's fleet key: it stays offline, so an
 * entrance that is broken into can offer boxes only what the operator signed.
 *
 * Wire form, one opaque line (a `.release` file beside the binary, and the RELEASE field of an update offer):
 *   <base64url of the manifest's JSON>.<base64url of the Ed25519 signature over RELEASE_PURPOSE + the first part>
 * The purpose prefix keeps a release signature from ever being accepted as a grant or an enrolment, and a
 * grant's as a release.
 */
import { sign, verify } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { isRecord, parseJsonSafe } from '../protocol/json.js';
import { isOneOf } from '../protocol/fields.js';
import { keyIdOf } from '../trust/grant.js';

const RELEASE_PURPOSE = 'dandelion-release-v1\n';
/** A manifest is a few hundred characters; anything far longer is not one. */
export const MAX_RELEASE_CHARS = 4096;
/** The architectures the standalone binaries are built for (docs/binaries.md), as Node names them. */
export const RELEASE_ARCHES = ['x64', 'arm64', 'armv7'] as const;
export type ReleaseArch = (typeof RELEASE_ARCHES)[number];
/** The largest agent binary a box downloads: today's are about 50 MB. */
export const MAX_RELEASE_BYTES = 256 * 1024 * 1024;

export interface ReleaseManifest {
  /** Always `dandelion-agent`: room for other products without a signature of one passing for another. */
  PRODUCT: 'dandelion-agent';
  /** The agent version the binary reports (shared/src/version.ts), MAJOR.MINOR.PATCH[-PRERELEASE]. */
  VERSION: string;
  ARCH: ReleaseArch;
  /** The binary's length in bytes. */
  SIZE: number;
  /** The binary's SHA-256, lowercase hex. */
  SHA256: string;
  /** The oldest running version that may update to this one ("0.0.0": any). */
  MIN_FROM_VERSION: string;
  /** Whether a box running a newer version may take this one (a downgrade the operator signed for). */
  ALLOW_DOWNGRADE: boolean;
  /** Unix seconds when it was signed. */
  CREATED: number;
  /** Which release key signed it (keyIdOf its public key text), so the key can rotate. */
  KEY_ID: string;
}

export type ReleaseCheck = { ok: true; manifest: ReleaseManifest; text: string } | { ok: false; reason: string };

const VERSION_PATTERN = /^(0|[1-9]\d{0,8})\.(0|[1-9]\d{0,8})\.(0|[1-9]\d{0,8})(?:-([0-9A-Za-z.-]{1,40}))?$/;

export function isVersion(v: unknown): v is string {
  return typeof v === 'string' && VERSION_PATTERN.test(v);
}

/**
 * Orders two versions as semver does for what releases use: numbers compared as numbers, and a prerelease
 * (1.2.0-rc.1) before its release (1.2.0); prerelease tags compared as text. Throws on a non-version: callers
 * check versions at their boundary with isVersion.
 */
export function compareVersions(a: string, b: string): number {
  const pa = VERSION_PATTERN.exec(a);
  const pb = VERSION_PATTERN.exec(b);
  if (!pa || !pb) throw new Error(`not a version: ${pa ? b : a}`);
  for (let i = 1; i <= 3; i++) {
    const d = Number(pa[i]) - Number(pb[i]);
    if (d !== 0) return Math.sign(d);
  }
  const [ra, rb] = [pa[4], pb[4]];
  if (ra === rb) return 0;
  if (ra === undefined) return 1;
  if (rb === undefined) return -1;
  return ra < rb ? -1 : 1;
}

/** A short, stable name for a release public key (its base64 SPKI text): named as fleet keys are (trust/grant.ts). */
export function releaseKeyIdOf(publicKeyText: string): string {
  return keyIdOf(publicKeyText);
}

export function signRelease(manifest: ReleaseManifest, key: KeyObject): string {
  const body = Buffer.from(JSON.stringify(manifest), 'utf8').toString('base64url');
  const signature = sign(null, Buffer.from(RELEASE_PURPOSE + body, 'utf8'), key).toString('base64url');
  return `${body}.${signature}`;
}

/**
 * The manifest in `text` when a key of `keys` (key ID → public key) signed it; otherwise why it is refused,
 * in words an operator can act on. Says nothing about whether a box should take it: see updateRefusal.
 */
export function verifyRelease(text: unknown, keys: ReadonlyMap<string, KeyObject>): ReleaseCheck {
  if (typeof text !== 'string' || text === '') return { ok: false, reason: 'no release manifest' };
  const line = text.trim();
  if (line.length > MAX_RELEASE_CHARS) return { ok: false, reason: `a release manifest is at most ${MAX_RELEASE_CHARS} characters` };
  const [body, signature, extra] = line.split('.');
  if (body === undefined || signature === undefined || extra !== undefined || !/^[A-Za-z0-9_-]+$/.test(body + signature)) {
    return { ok: false, reason: 'the release manifest is not of the form <body>.<signature>' };
  }
  const manifest = decodeManifestBody(body);
  if (typeof manifest === 'string') return { ok: false, reason: manifest };
  const key = keys.get(manifest.KEY_ID);
  if (key === undefined) return { ok: false, reason: `the release is signed by key ${manifest.KEY_ID}, which is not a release key this build trusts` };
  let valid = false;
  try {
    valid = verify(null, Buffer.from(RELEASE_PURPOSE + body, 'utf8'), key, Buffer.from(signature, 'base64url'));
  } catch {
    valid = false; // a malformed signature is a wrong one
  }
  if (!valid) return { ok: false, reason: 'the release signature does not verify' };
  return { ok: true, manifest, text: line };
}

/**
 * Why a box running `running` on `arch` must not install `manifest`, or undefined when it may: the wrong
 * architecture, a version too old to update from, the same version, or a downgrade not signed as one.
 */
export function updateRefusal(manifest: ReleaseManifest, running: string, arch: string): string | undefined {
  if (manifest.ARCH !== arch) return `the release is for ${manifest.ARCH}, this box is ${arch}`;
  if (!isVersion(running)) return `the running version ${running} is not MAJOR.MINOR.PATCH`;
  if (compareVersions(running, manifest.MIN_FROM_VERSION) < 0) return `version ${manifest.VERSION} updates only from ${manifest.MIN_FROM_VERSION} or newer; this box runs ${running}`;
  const order = compareVersions(manifest.VERSION, running);
  if (order === 0) return `version ${running} is already running`;
  if (order < 0 && !manifest.ALLOW_DOWNGRADE) return `version ${manifest.VERSION} is older than the running ${running} and is not signed as a downgrade`;
  return undefined;
}

/** The manifest in a body, or what is wrong with it. Every field is checked: a signed manifest is still input. */
function decodeManifestBody(body: string): ReleaseManifest | string {
  let doc: unknown;
  try {
    doc = parseJsonSafe(Buffer.from(body, 'base64url').toString('utf8'));
  } catch {
    return 'the release manifest is not JSON';
  }
  if (!isRecord(doc)) return 'the release manifest is not a JSON object';
  const { PRODUCT, VERSION, ARCH, SIZE, SHA256, MIN_FROM_VERSION, ALLOW_DOWNGRADE, CREATED, KEY_ID } = doc;
  if (PRODUCT !== 'dandelion-agent') return 'the release is not of PRODUCT dandelion-agent';
  if (!isVersion(VERSION)) return 'the release manifest\'s VERSION is not MAJOR.MINOR.PATCH[-PRERELEASE]';
  if (typeof ARCH !== 'string' || !isOneOf(RELEASE_ARCHES, ARCH)) return `the release manifest's ARCH is not one of ${RELEASE_ARCHES.join(', ')}`;
  if (typeof SIZE !== 'number' || !Number.isSafeInteger(SIZE) || SIZE <= 0 || SIZE > MAX_RELEASE_BYTES) return `the release manifest's SIZE is not a byte count up to ${MAX_RELEASE_BYTES}`;
  if (typeof SHA256 !== 'string' || !/^[0-9a-f]{64}$/.test(SHA256)) return 'the release manifest\'s SHA256 is not 64 lowercase hex digits';
  if (!isVersion(MIN_FROM_VERSION)) return 'the release manifest\'s MIN_FROM_VERSION is not MAJOR.MINOR.PATCH';
  if (typeof ALLOW_DOWNGRADE !== 'boolean') return 'the release manifest\'s ALLOW_DOWNGRADE is not true or false';
  if (typeof CREATED !== 'number' || !Number.isSafeInteger(CREATED) || CREATED < 0) return 'the release manifest\'s CREATED is not unix seconds';
  if (typeof KEY_ID !== 'string' || !/^[A-Za-z0-9_-]{1,64}$/.test(KEY_ID)) return 'the release manifest\'s KEY_ID is not a key ID';
  return { PRODUCT, VERSION, ARCH, SIZE, SHA256, MIN_FROM_VERSION, ALLOW_DOWNGRADE, CREATED, KEY_ID };
}
