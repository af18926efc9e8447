import t from 'tap';
t.test('addon loads', async (t) => {
  const native = require('../../../build/Release/vfsd_native.node');
  t.type(native, 'object');
});
