# Guest side of test/guest/faults-virtiofs.test.ts, first boot: one virtio-fs device per fault,
# each served by its own vfsd, so one boot carries every phase. The host prepends:
#   STAT_PATHS="rel ..."   paths of the remap tree to stat, in this order (the order in which the
#                          remap shares meet the tree's devices)
#   BLOCK=bytes            block size of the writers
# The phases run in this order because each one leaves its share dead (no reconnect in QEMU 7.2):
#   remap   stat the tree, unmount, then the host stops vfsd cleanly (state + backup saved)
#   ckpt    stat the tree, then the host SIGKILLs vfsd once the checkpoint holds the devices
#   kill    a writer fsyncs every block and reports it; the host SIGKILLs vfsd mid-stream
#   term    a writer fsyncs every 2 blocks; the host SIGTERMs vfsd mid-stream
#   vanish  a writer without fsync; the host kills QEMU itself (the guest never gets past that sync)
# A writer on a dead share hangs in its next request forever: it runs in the background and the
# script never touches that share again (no sync, no drop_caches: they would wait on it too).

for _s in remap ckpt kill term vanish; do
  mkdir -p "/mnt/$_s"
  vfsd_check "$_s/mount" mount -t virtiofs "$_s" "/mnt/$_s"
done

stat_tree() {
  _args=
  for _p in $STAT_PATHS; do _args="$_args /mnt/$1/$_p"; done
  vfsd_data "$1:ino" vfsd-probe stat $_args
}

stat_tree remap
stat_tree ckpt
vfsd_check remap/umount umount /mnt/remap
vfsd_sync remap-stop
vfsd_sync ckpt-kill

vfsd-probe blocks /mnt/kill/stream "$BLOCK" 1000000 1 kill 2>/dev/null &
vfsd_sync kill

vfsd-probe blocks /mnt/term/stream "$BLOCK" 1000000 2 term 2>/dev/null &
vfsd_sync term

vfsd-probe blocks /mnt/vanish/stream "$BLOCK" 1000000 0 vanish 2>/dev/null &
vfsd_sync vanish
vfsd_result vanish/qemu-killed FAIL "the guest ran on past the point where the host kills QEMU"
