import t from 'tap';
import { shouldAnnounceSubmount, type HostPlacement } from '../../src/policy/submount';

const parent: HostPlacement = { mntId: 30, devMajor: 8, devMinor: 1 };
const cases: [string, Partial<Parameters<typeof shouldAnnounceSubmount>[0]>, boolean][] = [
  ['other st_dev and mount id', { child: { mntId: 41, devMajor: 0, devMinor: 45 } }, true],
  ['other minor only', { child: { mntId: 30, devMajor: 8, devMinor: 2 } }, true],
  ['other major only', { child: { mntId: 30, devMajor: 9, devMinor: 1 } }, true],
  ['same st_dev, other mount id (bind mount)', { child: { mntId: 52, devMajor: 8, devMinor: 1 } }, true],
  ['same device and mount', { child: { ...parent } }, false],
  ['not a directory (bind-mounted file)', { isDir: false, child: { mntId: 41, devMajor: 0, devMinor: 45 } }, false],
  ['client did not offer FUSE_SUBMOUNTS (/dev/fuse)', { clientOfferedSubmounts: false, child: { mntId: 41, devMajor: 0, devMinor: 45 } }, false],
  ['--no-announce-submounts', { announceEnabled: false, child: { mntId: 41, devMajor: 0, devMinor: 45 } }, false],
];

for (const [name, over, want] of cases) {
  t.equal(
    shouldAnnounceSubmount({ clientOfferedSubmounts: true, announceEnabled: true, isDir: true, parent, child: parent, ...over }),
    want,
    name,
  );
}
