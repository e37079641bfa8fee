/**
 * Debian's Chromium, driven by playwright-core (never a downloaded browser), with the flags this
 * closed network needs: no background connections, no sandbox as root, autoplay allowed. The lab starts
 * it in a namespace through a wrapper (`executablePath`) and gives it a HOME whose NSS database trusts
 * the test's roots (`env`).
 */
import { chromium } from 'playwright-core';
import type { Browser } from 'playwright-core';

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

export async function launchBrowser(t: { teardown(fn: () => unknown): void }, opts: { executablePath?: string; env?: Record<string, string> } = {}): Promise<Browser> {
  const browser = await chromium.launch({
    executablePath: opts.executablePath ?? CHROMIUM,
    ...(opts.env ? { env: opts.env } : {}),
    args: [
      '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--autoplay-policy=no-user-gesture-required', '--mute-audio',
    ],
  });
  t.teardown(() => browser.close());
  return browser;
}
