// The lab is sealed: the runner's own namespace has no route anywhere, a box reaches the internet
// namespace only through its router's NAT, and the internet cannot reach into a home.
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { startLab } from './lab.js';
import { probeConnect, probeServer } from './probe.js';

const PORT = 8000;
const SEALED_MODULE = fileURLToPath(new URL('./sealed.js', import.meta.url));
/** A node process that runs the lab's guard and prints its verdict. */
const GUARD = `import(${JSON.stringify(SEALED_MODULE)}).then((m) => { m.assertSealed(); console.log('sealed'); }, (e) => console.log(e.message))
  .catch((e) => console.log(e.name + ': ' + e.message));`;

function connectError(host: string, port: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port, timeout: 3_000 });
    socket.once('connect', () => {
      socket.destroy();
      resolve('connected');
    });
    socket.once('timeout', () => {
      socket.destroy();
      resolve('ETIMEDOUT');
    });
    socket.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
  });
}

t.test('the runner finds no route to any public address', async (t) => {
  t.equal(await connectError('1.1.1.1', 443), 'ENETUNREACH');
  t.equal(await connectError('2606:4700:4700::1111', 443), 'ENETUNREACH');
});

t.test('a box reaches the internet only through its NAT; the internet cannot reach the box', async (t) => {
  const lab = await startLab({ homes: [{ kind: 'none' }] });
  t.teardown(() => lab.stop());
  const home = lab.homes[0]!;
  // The lab's addresses do not exist for the runner, only inside the lab's namespaces.
  t.equal(await connectError(lab.internetIp, PORT), 'ENETUNREACH', 'the runner cannot reach the internet namespace');
  const server = await probeServer(lab, lab.internet, PORT);
  t.teardown(() => server.stop());
  t.same(await probeConnect(lab, home.box, lab.internetIp, PORT), { reply: `from ${home.publicIp}` }, 'the box is seen at its router\'s public address');
  const boxServer = await probeServer(lab, home.box, PORT);
  t.teardown(() => boxServer.stop());
  const inbound = await probeConnect(lab, lab.internet, home.boxLanIp, PORT, 1_500);
  t.ok(inbound.error, `the box's LAN address is not reachable from the internet (${inbound.error})`);
  const unmapped = await probeConnect(lab, lab.internet, home.publicIp, PORT, 1_500);
  t.ok(unmapped.error, `nothing maps the port on a 'none' router (${unmapped.error})`);
});

t.test('every lab namespace has its own resolver', async (t) => {
  const lab = await startLab({ homes: [{ kind: 'none' }], nameserver: '80.0.0.53' });
  t.teardown(() => lab.stop());
  const resolv = await lab.exec(lab.homes[0]!.box, ['cat', '/etc/resolv.conf']);
  t.match(resolv.stdout, /^nameserver 80\.0\.0\.53$/m);
});

t.test('the lab refuses to start outside the sealed namespace', async (t) => {
  const lab = await startLab({ homes: [{ kind: 'none' }] });
  t.teardown(() => lab.stop());
  const runGuard = async (env: NodeJS.ProcessEnv): Promise<string> =>
    (await lab.exec(lab.homes[0]!.box, [process.execPath, '--input-type=module', '-e', GUARD], { env })).stdout.trim();
  // A namespace with a real interface (the box's eth0) is not the sealed one.
  t.match(await runGuard(process.env), /NotSealedError: .*only loopback.*eth0/);
  const withoutMark = { ...process.env };
  delete withoutMark.DANDELION_HOST_NETNS;
  t.match(await runGuard(withoutMark), /NotSealedError: .*run it with `make lab-test`/, 'without scripts/lab-test.sh\'s mark');
});
