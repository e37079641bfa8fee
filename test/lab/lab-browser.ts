/**
 * Headless Chromium in a lab namespace, trusting only the roots given: a wrapper script enters the
 * namespace (`ip netns exec` keeps the pipe playwright drives it through), and the browser's HOME holds an
 * NSS database (`certutil`, libnss3-tools) with those roots, which is where Chromium on Linux looks.
 */
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Browser } from 'playwright-core';
import { CHROMIUM, launchBrowser } from '../helpers/browser.js';
import type { Lab, Ns } from './lab.js';
import { run } from './netns.js';

export async function launchLabBrowser(t: { teardown(fn: () => unknown): void }, lab: Lab, ns: Ns, roots: Record<string, string>): Promise<Browser> {
  const home = path.join(lab.dir, `chromium-${ns.name}`);
  const nssdb = path.join(home, '.pki', 'nssdb');
  mkdirSync(nssdb, { recursive: true });
  await run(['certutil', '-N', '-d', `sql:${nssdb}`, '--empty-password']);
  for (const [nickname, pem] of Object.entries(roots)) {
    const file = path.join(home, `${nickname}.pem`);
    writeFileSync(file, pem);
    // C,,: a CA trusted to issue server certificates, nothing else.
    await run(['certutil', '-A', '-d', `sql:${nssdb}`, '-n', nickname, '-t', 'C,,', '-i', file]);
  }
  const wrapper = path.join(home, 'chromium-in-ns');
  writeFileSync(wrapper, `#!/bin/sh\nexec ip netns exec ${ns.name} ${CHROMIUM} "$@"\n`);
  chmodSync(wrapper, 0o755);
  return launchBrowser(t, { executablePath: wrapper, env: { ...stringEnv(), HOME: home } });
}

function stringEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined) env[k] = v;
  return env;
}
