// A box's ID is derived from its hardware: stable for the same machine, the Pi serial preferred over
// /etc/machine-id (so a re-flashed card keeps the ID), and a configured ID wins.
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { deriveBoxId, piSerialOf, resolveBoxId } from '../src/identity.js';
import { isIdOf } from '../../shared/src/protocol/index.js';

const PI_CPUINFO = 'processor\t: 0\nmodel name\t: ARMv7 Processor rev 3 (v7l)\nHardware\t: BCM2835\nRevision\t: c03111\nSerial\t\t: 10000000a1b2c3d4\nModel\t\t: Raspberry Pi 4 Model B Rev 1.1\n';

t.test('stable, hardware-derived IDs', async (t) => {
  const dir = t.testdir();
  const cpuinfo = path.join(dir, 'cpuinfo');
  const machineId = path.join(dir, 'machine-id');
  writeFileSync(cpuinfo, 'processor\t: 0\nmodel name\t: Intel\n');
  writeFileSync(machineId, '0123456789abcdef0123456789abcdef\n');
  const a = await deriveBoxId({ cpuinfoPath: cpuinfo, machineIdPath: machineId });
  t.ok(isIdOf(a, 'BOX'), 'a valid box ID');
  t.equal(await deriveBoxId({ cpuinfoPath: cpuinfo, machineIdPath: machineId }), a, 'same machine, same ID');
  t.notMatch(a, /0123456789abcdef/, 'machine-id is hashed, not exposed');

  writeFileSync(cpuinfo, PI_CPUINFO);
  const pi = await deriveBoxId({ cpuinfoPath: cpuinfo, machineIdPath: machineId });
  writeFileSync(machineId, 'ffffffffffffffffffffffffffffffff\n'); // a re-flashed card gets a new machine-id
  t.equal(await deriveBoxId({ cpuinfoPath: cpuinfo, machineIdPath: machineId }), pi, 'the Pi serial wins over machine-id');
  t.not(pi, a);
  t.equal(await resolveBoxId('box-configured', { cpuinfoPath: cpuinfo, machineIdPath: machineId }), 'box-configured');
  await t.rejects(deriveBoxId({ cpuinfoPath: path.join(dir, 'none'), machineIdPath: path.join(dir, 'none') }), /set ID in the config/);
});

t.test('Pi serial parsing', async (t) => {
  t.equal(piSerialOf(PI_CPUINFO), '10000000a1b2c3d4');
  t.equal(piSerialOf('Serial\t\t: 0000000000000000\n'), undefined, 'an all-zero serial is no serial');
  t.equal(piSerialOf('model name: x86\n'), undefined);
});
