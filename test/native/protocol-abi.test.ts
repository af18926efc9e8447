// Cross-check against the C compiler: build a tiny program from the machine's own
// <linux/fuse.h> (Debian 12 ships 7.38, package linux-libc-dev) that prints sizeof/offsetof and
// the constants, and compare them with src/protocol. Newer (7.39..7.45) additions are checked
// by hand-written values in the other protocol-*.test.ts files (Debian's 7.38 header predates
// the supplementary-groups extension, so FUSE_EXT_GROUPS is among those).
import t from 'tap';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as P from '../../src/protocol';

const header = '/usr/include/linux/fuse.h';

const sizes: [string, number][] = [
  ['fuse_in_header', P.Size.IN_HEADER], ['fuse_out_header', P.Size.OUT_HEADER], ['fuse_attr', P.Size.ATTR],
  ['fuse_kstatfs', P.Size.KSTATFS], ['fuse_file_lock', P.Size.FILE_LOCK], ['fuse_entry_out', P.Size.ENTRY_OUT],
  ['fuse_forget_in', P.Size.FORGET_IN], ['fuse_forget_one', P.Size.FORGET_ONE], ['fuse_batch_forget_in', P.Size.BATCH_FORGET_IN],
  ['fuse_getattr_in', P.Size.GETATTR_IN], ['fuse_attr_out', P.Size.ATTR_OUT], ['fuse_mknod_in', P.Size.MKNOD_IN],
  ['fuse_mkdir_in', P.Size.MKDIR_IN], ['fuse_rename_in', P.Size.RENAME_IN], ['fuse_rename2_in', P.Size.RENAME2_IN],
  ['fuse_link_in', P.Size.LINK_IN], ['fuse_setattr_in', P.Size.SETATTR_IN], ['fuse_open_in', P.Size.OPEN_IN],
  ['fuse_create_in', P.Size.CREATE_IN], ['fuse_open_out', P.Size.OPEN_OUT], ['fuse_release_in', P.Size.RELEASE_IN],
  ['fuse_flush_in', P.Size.FLUSH_IN], ['fuse_read_in', P.Size.READ_IN], ['fuse_write_in', P.Size.WRITE_IN],
  ['fuse_write_out', P.Size.WRITE_OUT], ['fuse_statfs_out', P.Size.STATFS_OUT], ['fuse_fsync_in', P.Size.FSYNC_IN],
  ['fuse_setxattr_in', P.Size.SETXATTR_IN], ['fuse_getxattr_in', P.Size.GETXATTR_IN], ['fuse_getxattr_out', P.Size.GETXATTR_OUT],
  ['fuse_lk_in', P.Size.LK_IN], ['fuse_lk_out', P.Size.LK_OUT], ['fuse_access_in', P.Size.ACCESS_IN],
  ['fuse_init_in', P.Size.INIT_IN], ['fuse_init_out', P.Size.INIT_OUT], ['cuse_init_in', P.Size.CUSE_INIT_IN],
  ['cuse_init_out', P.Size.CUSE_INIT_OUT], ['fuse_interrupt_in', P.Size.INTERRUPT_IN], ['fuse_bmap_in', P.Size.BMAP_IN],
  ['fuse_bmap_out', P.Size.BMAP_OUT], ['fuse_ioctl_in', P.Size.IOCTL_IN], ['fuse_ioctl_iovec', P.Size.IOCTL_IOVEC],
  ['fuse_ioctl_out', P.Size.IOCTL_OUT], ['fuse_poll_in', P.Size.POLL_IN], ['fuse_poll_out', P.Size.POLL_OUT],
  ['fuse_notify_poll_wakeup_out', P.Size.NOTIFY_POLL_WAKEUP_OUT], ['fuse_fallocate_in', P.Size.FALLOCATE_IN],
  ['fuse_dirent', P.Size.DIRENT], ['fuse_direntplus', P.Size.DIRENTPLUS],
  ['fuse_notify_inval_inode_out', P.Size.NOTIFY_INVAL_INODE_OUT], ['fuse_notify_inval_entry_out', P.Size.NOTIFY_INVAL_ENTRY_OUT],
  ['fuse_notify_delete_out', P.Size.NOTIFY_DELETE_OUT], ['fuse_notify_store_out', P.Size.NOTIFY_STORE_OUT],
  ['fuse_notify_retrieve_out', P.Size.NOTIFY_RETRIEVE_OUT], ['fuse_notify_retrieve_in', P.Size.NOTIFY_RETRIEVE_IN],
  ['fuse_lseek_in', P.Size.LSEEK_IN], ['fuse_lseek_out', P.Size.LSEEK_OUT], ['fuse_copy_file_range_in', P.Size.COPY_FILE_RANGE_IN],
  ['fuse_setupmapping_in', P.Size.SETUPMAPPING_IN], ['fuse_removemapping_in', P.Size.REMOVEMAPPING_IN],
  ['fuse_removemapping_one', P.Size.REMOVEMAPPING_ONE], ['fuse_syncfs_in', P.Size.SYNCFS_IN], ['fuse_secctx', P.Size.SECCTX],
  ['fuse_secctx_header', P.Size.SECCTX_HEADER], ['fuse_ext_header', P.Size.EXT_HEADER],
];
// Offsets the decoders and encoders rely on, in our own numbers.
const offsets: [string, string, number][] = [
  ['fuse_in_header', 'total_extlen', 36], ['fuse_in_header', 'nodeid', 16], ['fuse_setattr_in', 'uid', 76],
  ['fuse_setattr_in', 'mode', 68], ['fuse_setattr_in', 'lock_owner', 24], ['fuse_read_in', 'flags', 32],
  ['fuse_lk_in', 'lk_flags', 40], ['fuse_init_out', 'flags2', 32], ['fuse_init_out', 'max_pages', 28],
  ['fuse_init_out', 'map_alignment', 30], ['fuse_init_in', 'flags2', 16], ['fuse_ioctl_in', 'in_size', 24],
  ['fuse_attr', 'rdev', 76], ['fuse_attr', 'flags', 84], ['fuse_entry_out', 'attr', 40], ['fuse_attr_out', 'attr', 16],
  ['fuse_notify_retrieve_in', 'size', 16], ['fuse_copy_file_range_in', 'len', 40], ['fuse_direntplus', 'dirent', 128],
];
const constants: [string, number][] = [
  ['FUSE_KERNEL_VERSION', P.FUSE_KERNEL_VERSION], ['FUSE_COMPAT_ENTRY_OUT_SIZE', P.Size.COMPAT_ENTRY_OUT],
  ['FUSE_COMPAT_ATTR_OUT_SIZE', P.Size.COMPAT_ATTR_OUT], ['FUSE_COMPAT_MKNOD_IN_SIZE', P.Size.COMPAT_MKNOD_IN],
  ['FUSE_COMPAT_WRITE_IN_SIZE', P.Size.COMPAT_WRITE_IN], ['FUSE_COMPAT_STATFS_SIZE', P.Size.COMPAT_STATFS],
  ['FUSE_COMPAT_INIT_OUT_SIZE', P.Size.COMPAT_INIT_OUT], ['FUSE_COMPAT_22_INIT_OUT_SIZE', P.Size.COMPAT_22_INIT_OUT],
  ['FUSE_COMPAT_SETXATTR_IN_SIZE', P.Size.COMPAT_SETXATTR_IN], ['FUSE_MIN_READ_BUFFER', P.FUSE_MIN_READ_BUFFER],
  ['FUSE_NAME_OFFSET', P.Size.DIRENT], ['FUSE_DEV_IOC_CLONE', P.DevIoctl.CLONE],
  ['FUSE_SETXATTR_EXT', P.InitFlag.SETXATTR_EXT], ['FUSE_INIT_EXT', P.InitFlag.INIT_EXT], ['FUSE_SUBMOUNTS', P.InitFlag.SUBMOUNTS],
  ['FUSE_MAX_PAGES', P.InitFlag.MAX_PAGES], ['FUSE_HANDLE_KILLPRIV_V2', P.InitFlag.HANDLE_KILLPRIV_V2],
  ['FUSE_SECURITY_CTX >> 32', P.InitFlag2.SECURITY_CTX], ['FUSE_HAS_INODE_DAX >> 32', P.InitFlag2.HAS_INODE_DAX],
  ['FUSE_HAS_EXPIRE_ONLY >> 32', P.InitFlag2.HAS_EXPIRE_ONLY],
  ['FATTR_KILL_SUIDGID', P.Fattr.KILL_SUIDGID], ['FOPEN_PARALLEL_DIRECT_WRITES', P.Fopen.PARALLEL_DIRECT_WRITES],
  ['FUSE_ATTR_DAX', P.FUSE_ATTR_DAX], ['FUSE_OPEN_KILL_SUIDGID', P.FUSE_OPEN_KILL_SUIDGID],
  ['FUSE_SETXATTR_ACL_KILL_SGID', P.SetxattrFlag.ACL_KILL_SGID], ['FUSE_EXPIRE_ONLY', P.FUSE_EXPIRE_ONLY],
  ['FUSE_WRITE_KILL_SUIDGID', P.WriteFlag.KILL_SUIDGID], ['FUSE_IOCTL_COMPAT_X32', P.IoctlFlag.COMPAT_X32],
  ['FUSE_MAX_NR_SECCTX', P.FUSE_MAX_NR_SECCTX],
  ['FUSE_SYNCFS', P.Op.SYNCFS], ['FUSE_TMPFILE', P.Op.TMPFILE], ['FUSE_REMOVEMAPPING', P.Op.REMOVEMAPPING],
  ['FUSE_NOTIFY_DELETE', P.NotifyCode.DELETE], ['CUSE_INIT', P.Op.CUSE_INIT],
];

const skip = !fs.existsSync(header) && `${header} not installed (package linux-libc-dev)`;

t.test('struct sizes, offsets and constants agree with the C header of this machine', { skip }, async (tt) => {
  const lines = [
    '#include <stdio.h>', '#include <stddef.h>', '#include <stdint.h>', '#include <linux/ioctl.h>', '#include <linux/fuse.h>', 'int main(void) {',
    ...sizes.map(([s]) => `printf("size ${s} %zu\\n", sizeof(struct ${s}));`),
    ...offsets.map(([s, f]) => `printf("off ${s}.${f} %zu\\n", offsetof(struct ${s}, ${f}));`),
    ...constants.map(([c]) => `printf("const ${c.replace(/ .*/, '')} %llu\\n", (unsigned long long)(${c}));`),
    'printf("const FUSE_KERNEL_MINOR_VERSION %d\\n", FUSE_KERNEL_MINOR_VERSION);', 'return 0; }',
  ];
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vfsd-abi-'));
  try {
    fs.writeFileSync(path.join(dir, 'abi.c'), lines.join('\n'));
    const cc = spawnSync('cc', ['-o', path.join(dir, 'abi'), path.join(dir, 'abi.c')], { encoding: 'utf8' });
    tt.equal(cc.status, 0, `cc: ${cc.stderr}`);
    const run = spawnSync(path.join(dir, 'abi'), { encoding: 'utf8' });
    tt.equal(run.status, 0);
    const got = new Map(run.stdout.trim().split('\n').map((l) => { const [k, n, v] = l.split(' '); return [`${k} ${n}`, Number(v)]; }));
    for (const [s, ours] of sizes) tt.equal(ours, got.get(`size ${s}`), `sizeof(struct ${s})`);
    for (const [s, f, ours] of offsets) tt.equal(ours, got.get(`off ${s}.${f}`), `offsetof(${s}, ${f})`);
    for (const [c, ours] of constants) tt.equal(ours, got.get(`const ${c.replace(/ .*/, '')}`), c);
    tt.ok(got.get('const FUSE_KERNEL_MINOR_VERSION')! <= P.FUSE_KERNEL_MINOR_VERSION, 'we are at least as new as the header');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
