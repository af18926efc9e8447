import t from 'tap';
t.test('addon loads', async (t) => {
  const native = require('../../../build/Release/vfsd_native.node');
  t.type(native, 'object');
  // The vhost-user front end primitives of the tests are their own addon (vfsd_test_support).
  t.notOk('testSupport' in native, 'no test-only code in the shipped addon');
  t.type(require('../../../build/Release/vfsd_test_support.node').memfdCreate, 'function', 'the test addon loads');
});
