// The port mapper against Debian's miniupnpd (nftables build), sealed: each case runs in a network
// namespace of its own (`unshare --net`, only loopback until the case builds a router and a box behind
// it), so nothing reaches the host's network. The router's WAN is a veth with a public-range address
// (miniupnpd refuses to map behind a reserved one, which is the carrier-NAT case). Cases: NAT-PMP and
// UPnP together (NAT-PMP answers first), UPnP alone (its port taken by another mapping: the router's
// other external port is reported), a router that restarts with its mappings flushed (mapped again
// within a few checks), SIGTERM removing every mapping, a router behind a carrier NAT (`failed` with
// both refusals), and a router with both protocols off (`none`).
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { assertSealed } from './sealed.js';

const BOX_SCRIPT = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures', 'router-box.js');
assertSealed();

/** Router namespace = the sealed one; the box is a child namespace behind a veth, 192.168.1.23 → 192.168.1.1. */
const LAB = String.raw`
set -e
dir=$1; wan=$2; natpmp=$3; upnp=$4; taken=$5
ip link set lo up
ip link add wan0 type veth peer name wanpeer
ip link set wanpeer up
ip addr add $wan/24 dev wan0
ip link set wan0 up
unshare --net sleep 120 & box=$!
sleep 0.2
inbox() { nsenter --net=/proc/$box/ns/net "$@"; }
ip link add lan0 type veth peer name eth0 netns $box
ip addr add 192.168.1.1/24 dev lan0
ip link set lan0 up
inbox sh -c 'ip link set lo up; ip addr add 192.168.1.23/24 dev eth0; ip link set eth0 up; ip route add default via 192.168.1.1'
nft -f - <<'NFT'
table inet filter {
  chain forward { type filter hook forward priority 0; policy accept; jump miniupnpd; }
  chain miniupnpd { }
  chain prerouting { type nat hook prerouting priority -100; jump prerouting_miniupnpd; }
  chain prerouting_miniupnpd { }
  chain postrouting { type nat hook postrouting priority 100; jump postrouting_miniupnpd; }
  chain postrouting_miniupnpd { }
}
NFT
cat > $dir/miniupnpd.conf <<CONF
ext_ifname=wan0
listening_ip=lan0
http_port=5000
enable_natpmp=$natpmp
enable_upnp=$upnp
secure_mode=yes
uuid=3d3cec3a-8cf0-11e0-98ee-001a6bd2d07b
allow 1024-65535 192.168.1.0/24 1024-65535
deny 0-65535 0.0.0.0/0 0-65535
CONF
router() { miniupnpd -d -P $dir/miniupnpd.pid -f $dir/miniupnpd.conf >> $dir/miniupnpd.log 2>&1 & mini=$!; sleep 0.4; }
rules() { echo "RULES $(nft list chain inet filter prerouting_miniupnpd | grep -o 'dport [0-9]* dnat ip to [0-9.:]*' | tr '\n' ',')"; }
router
if [ -n "$taken" ]; then upnpc -u http://192.168.1.1:5000/rootDesc.xml -a 192.168.1.1 9999 $taken TCP >/dev/null; fi
nsenter --net=/proc/$box/ns/net node ${BOX_SCRIPT} & agent=$!
for i in $(seq 50); do sleep 0.2; if grep -q started $dir/out 2>/dev/null; then break; fi; done
rules
kill $mini 2>/dev/null || true; wait $mini || true
nft flush chain inet filter prerouting_miniupnpd
nft flush chain inet filter postrouting_miniupnpd
nft flush chain inet filter miniupnpd
echo "REBOOTED"; rules
router
# Mapped again within a few checks (1 s each); waited for up to 15 s, as the machine may be loaded.
for i in $(seq 75); do sleep 0.2; [ "$(nft list chain inet filter prerouting_miniupnpd | grep -c 'to 192.168.1.23:')" -ge 2 ] && break; done
rules
kill -TERM $agent; wait $agent || true
echo "TERMINATED"; rules
kill $mini $box 2>/dev/null || true
`;

interface Run {
  states: Array<{ method: string; error: string; routerExternalIp: string; lanIp?: string; external: Array<[number, number]> }>;
  rules: string[];
}

async function lab(t: { teardown(fn: () => void): void }, o: { wan: string; natpmp: 'yes' | 'no'; upnp: 'yes' | 'no'; taken?: number }): Promise<Run> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'dandelion-router-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(path.join(dir, 'lab.sh'), LAB);
  // The box's output goes to a file the script watches for "started", and is read back here.
  const child = spawn('unshare', ['--net', 'sh', '-c', `bash ${dir}/lab.sh ${dir} ${o.wan} ${o.natpmp} ${o.upnp} ${o.taken ?? ''} 2>&1`], { stdio: ['ignore', 'pipe', 'pipe'] });
  let text = '';
  child.stdout.on('data', (d: Buffer) => {
    text += d.toString();
    writeFileSync(path.join(dir, 'out'), text);
  });
  child.stderr.on('data', (d: Buffer) => (text += d.toString()));
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  if (code !== 0) throw new Error(`lab exited ${code}:\n${text}`);
  const lines = text.split('\n');
  return {
    states: lines.filter((l) => l.startsWith('{"state"')).map((l) => JSON.parse(l).state),
    rules: lines.filter((l) => l.startsWith('RULES')).map((l) => l.slice(6)),
  };
}

const both = 'dport 7072 dnat ip to 192.168.1.23:7072,dport 7071 dnat ip to 192.168.1.23:7071,';

t.test('NAT-PMP and UPnP: NAT-PMP maps; a router restart is mapped again; SIGTERM removes all', async (t) => {
  const run = await lab(t, { wan: '80.0.0.2', natpmp: 'yes', upnp: 'yes' });
  t.match(run.states[0], { method: 'nat-pmp', error: '', routerExternalIp: '80.0.0.2', lanIp: '192.168.1.23', external: [[7072, 7072], [7071, 7071]] });
  t.same(run.rules, [both, '', both, ''], 'mapped; flushed by the restart; mapped again; removed on SIGTERM');
});

t.test('UPnP alone, a port taken: the router\'s other external port is reported; restart and SIGTERM as above', async (t) => {
  const run = await lab(t, { wan: '80.0.0.2', natpmp: 'no', upnp: 'yes', taken: 7071 });
  const first = run.states[0];
  t.match(first, { method: 'upnp', error: '', routerExternalIp: '80.0.0.2', lanIp: '192.168.1.23' });
  const external = new Map(first?.external);
  t.equal(external.get(7072), 7072);
  t.not(external.get(7071), 7071, 'another external port for 7071');
  t.match(run.rules[0], new RegExp(`dport ${external.get(7071)} dnat ip to 192\\.168\\.1\\.23:7071`));
  t.notMatch(run.rules[1], /192\.168\.1\.23:707/, 'flushed');
  t.match(run.rules[2], new RegExp(`dport 7072 dnat ip to 192\\.168\\.1\\.23:7072,.*dport ${external.get(7071)} dnat ip to 192\\.168\\.1\\.23:7071|dport ${external.get(7071)} dnat ip to 192\\.168\\.1\\.23:7071,.*dport 7072 dnat ip to 192\\.168\\.1\\.23:7072`), 'both mapped again after the restart, on the same external ports');
  t.equal(run.rules[3], '', 'removed on SIGTERM');
});

t.test('a router behind a carrier NAT refuses: failed, with both refusals', async (t) => {
  const run = await lab(t, { wan: '100.64.0.2', natpmp: 'yes', upnp: 'yes' });
  t.match(run.states[0], { method: 'failed', error: /^nat-pmp: NAT-PMP result 3: .*; upnp: UPnP error 501/, lanIp: '192.168.1.23' });
  t.same(run.rules, ['', '', '', '']);
});

t.test('a router with both protocols off: none', async (t) => {
  const run = await lab(t, { wan: '80.0.0.2', natpmp: 'no', upnp: 'no' });
  t.match(run.states[0], { method: 'none', error: '', lanIp: '192.168.1.23' });
});
