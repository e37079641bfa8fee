// The dashboard's updates panel (headless Chromium, a logged-in operator): the boxes per agent version, the
// stored releases, and the rollout's state and progress; its Pause, Resume and Roll back buttons change the
// rollout (with the session's CSRF token), and only the ones the state takes are shown.
import t from 'tap';
import { hashPassword } from '../../../shared/src/password.js';
import { startRedis } from '../../../test/helpers/redis.js';
import { startEntrance } from '../../../test/helpers/entrance.js';
import { boxExchange } from '../../../test/helpers/messages.js';
import { connectPeer } from '../../../test/helpers/ws-client.js';
import { launchBrowser } from '../../../test/helpers/browser.js';
import { ReleaseStore } from '../../src/updates/release-store.js';
import { Rollouts } from '../../src/updates/rollouts.js';
import { makeRelease, releaseKey } from './fixtures/releases.js';

t.test('the updates panel shows versions and the rollout, and its buttons pause, resume and roll back', { timeout: 120_000 }, async (t) => {
  const user = 'ops';
  const password = 'updates reach every box';
  const redis = await startRedis(t);
  const key = releaseKey();
  const release = makeRelease(key, '2.0.0', 'x64', 2048);
  await new ReleaseStore(redis.client(), () => key.trusted).upload(release.line, [release.binary]);
  const { url } = await startEntrance(t, {
    redisUrl: redis.url, releaseKeys: key.trusted,
    env: { DANDELION_DASHBOARD_USERS: JSON.stringify([{ USERNAME: user, PASSWORD_HASH: await hashPassword(password) }]) },
  });
  const box = await connectPeer(url);
  t.teardown(() => box.close());
  for (const [id, version] of [['box-u1', '1.0.0'], ['box-u2', '1.0.0'], ['box-u3', '2.0.0']] as const) {
    t.equal((await box.ask(boxExchange(id, { AGENT_VERSION: version, AGENT_ARCH: 'x64' }))).MESSAGE, 'ACCEPTED');
  }
  await new Rollouts({ redis: redis.client(), activeSeconds: 120, releaseUrl: () => '' }).start({ version: '2.0.0', percent: 100 });

  const browser = await launchBrowser(t);
  const page = await (await browser.newContext({ viewport: { width: 1600, height: 900 } })).newPage();
  const pageErrors: string[] = [];
  page.on('pageerror', (err) => pageErrors.push(err.message));
  await page.goto(`http://${new URL(url).host}/dashboard/`);
  await page.fill('input[name="username"]', user);
  await page.fill('input[name="password"]', password);
  await Promise.all([page.waitForURL(/\/dashboard\/$/), page.click('form button[type="submit"]')]);
  await page.waitForSelector('#rollout-state-name');
  t.equal(await page.textContent('#agent-versions tr[data-version="1.0.0"] td'), '2', 'two boxes on 1.0.0');
  t.equal(await page.textContent('#agent-versions tr[data-version="2.0.0"] td'), '1', 'one on 2.0.0');
  t.match(await page.textContent('#releases tbody'), /2\.0\.0\s*x64\s*2048/, 'the release');
  t.equal(await page.textContent('#rollout-state-name'), 'running');
  t.match(await page.textContent('#rollout-state'), /2\.0\.0 to 100 % of the boxes: stage 1 of 4 \(1 %\)/);
  const buttons = async (): Promise<string[]> => page.$$eval('#rollout-actions button', (bs) => bs.map((b) => b.textContent ?? ''));
  t.same(await buttons(), ['Pause', 'Roll back'], 'running: pause or roll back');

  await page.click('#rollout-actions button[data-action="rollout/pause"]');
  await page.waitForFunction(() => document.querySelector('#rollout-state-name')?.textContent === 'paused');
  t.same(await buttons(), ['Resume', 'Roll back'], 'paused: resume or roll back');
  t.match(await page.textContent('#rollout-reason'), /paused by ops/, 'who paused it');
  await page.click('#rollout-actions button[data-action="rollout/resume"]');
  await page.waitForFunction(() => document.querySelector('#rollout-state-name')?.textContent === 'running');
  page.once('dialog', (d) => void d.accept());
  await page.click('#rollout-actions button[data-action="rollout/rollback"]');
  await page.waitForFunction(() => document.querySelector('#rollout-state-name')?.textContent === 'rolling-back');
  t.same(await buttons(), [], 'rolling back: nothing more to press');
  t.same(pageErrors, [], 'no errors on the page');
});
