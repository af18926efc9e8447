import t from 'tap';
import { MultidevsPolicy, parseMultidevs } from '../../src/policy/multidevs';
import { Errno } from '../../src/protocol/errno';
import { decodeIno } from '../../src/policy/remap';
import { DeviceRegistry } from '../../src/state/device-registry';

t.test('parseMultidevs values', async (t) => {
  t.equal(parseMultidevs('remap'), 'remap');
  t.equal(parseMultidevs('default'), 'remap', 'default means remap');
  t.equal(parseMultidevs('forbid'), 'forbid');
  t.equal(parseMultidevs('warn'), 'warn');
});

t.test('parseMultidevs error text', async (t) => {
  for (const bad of ['', 'Remap', 'remap ', 'none', "it's"]) {
    t.throws(() => parseMultidevs(bad), { message: `unknown multidevs '${bad}' (valid: remap, forbid, warn, default)` });
  }
});

const desc = { label: '0:45', source: 'tmpfs', fsType: 'tmpfs' };

t.test('warn: passes through, logs once per device', async (t) => {
  const p = new MultidevsPolicy('warn');
  t.same(p.decide({ device: 'root', visibleDevice: 'root', hostIno: 5n, path: '/e/a' }), { action: 'pass', ino: 5n });
  const d1 = p.decide({ device: 'A', visibleDevice: 'root', hostIno: 5n, path: '/e/m1/x', describe: desc });
  t.equal(d1.action, 'pass');
  t.equal(d1.log?.level, 'warn');
  t.equal(d1.log?.message, "path /e/m1/x on device 0:45 (tmpfs, tmpfs): inode numbers may collide with the export's; --multidevs=remap avoids this");
  const d2 = p.decide({ device: 'A', visibleDevice: 'root', hostIno: 6n, path: '/e/m1/y', describe: desc });
  t.same(d2, { action: 'pass', ino: 6n }, 'second object on the same device: no log');
  const d3 = p.decide({ device: 'B', visibleDevice: 'root', hostIno: 5n, path: '/e/m2/x' });
  t.equal(d3.log?.message, "path /e/m2/x on device B: inode numbers may collide with the export's; --multidevs=remap avoids this");
});

t.test('forbid: ENODEV off the visible device, logs once per device', async (t) => {
  const p = new MultidevsPolicy('forbid');
  t.same(p.decide({ device: 'root', visibleDevice: 'root', hostIno: 1n << 63n, path: '/e' }), { action: 'pass', ino: 1n << 63n }, 'same device passes, even high bits');
  const d1 = p.decide({ device: 'A', visibleDevice: 'root', hostIno: 5n, path: '/e/m1', describe: desc });
  t.same({ action: d1.action, errno: d1.action === 'forbid' && d1.errno }, { action: 'forbid', errno: Errno.ENODEV });
  t.equal(d1.log?.message, 'path /e/m1 on device 0:45 (tmpfs, tmpfs): objects there answer ENODEV (--multidevs=forbid)');
  const d2 = p.decide({ device: 'A', visibleDevice: 'root', hostIno: 7n, path: '/e/m1/f' });
  t.same(d2, { action: 'forbid', errno: Errno.ENODEV });
  t.ok(p.decide({ device: 'B', visibleDevice: 'root', hostIno: 7n, path: '/e/m2' }).log, 'another device logs again');
  t.same(p.decide({ device: 'S', visibleDevice: 'S', hostIno: 7n, path: '/e/sub/f' }), { action: 'pass', ino: 7n }, 'objects of an announced submount pass');
});

t.test('remap: foreign objects remapped, visible device passes, fallback logged once at info', async (t) => {
  const p = new MultidevsPolicy('remap', new DeviceRegistry());
  t.same(p.decide({ device: 'root', visibleDevice: 'root', hostIno: 5n, path: '/e/a' }), { action: 'pass', ino: 5n });
  t.same(p.decide({ device: 'S', visibleDevice: 'S', hostIno: 5n, path: '/e/sub/a' }), { action: 'pass', ino: 5n });
  const d = p.decide({ device: 'A', visibleDevice: 'root', hostIno: 5n, path: '/e/m1/a' });
  t.equal(d.action, 'remap');
  t.notOk(d.log, 'direct remap is silent');
  t.same(d.action === 'remap' && decodeIno(d.ino), { kind: 'direct', deviceIndex: 1, hostIno: 5n });
  const big = p.decide({ device: 'A', visibleDevice: 'root', hostIno: 1n << 50n, path: '/e/m1/big', describe: desc });
  t.equal(big.action, 'remap');
  t.equal(big.log?.level, 'info');
  t.notOk(p.decide({ device: 'A', visibleDevice: 'root', hostIno: (1n << 50n) + 1n, path: '/e/m1/big2' }).log);
  const rootHigh = p.decide({ device: 'root', visibleDevice: 'root', hostIno: (1n << 63n) + 3n, path: '/e/odd' });
  t.equal(rootHigh.action, 'remap', "the visible device's own high-bit numbers are moved out of the reserved range");
  t.throws(() => new MultidevsPolicy('remap'), /registry/);
});
