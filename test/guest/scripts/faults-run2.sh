# Guest side of test/guest/faults-virtiofs.test.ts, second boot: the restarted remap servers.
#   remap    new vfsd, same options, its state dir deleted by the "VM manager" (backup only)
#   ckpt     new vfsd on the state dir its SIGKILLed predecessor checkpointed
#   control  vfsd --multidevs remap without state: what a fresh registry gives in this order
# STAT_PATHS (from the host) reaches the tree's devices in the other order than the first boot, so
# a server that lost its registry numbers them differently (the control shows it).
for _s in remap ckpt control; do
  mkdir -p "/mnt/$_s"
  vfsd_check "$_s/mount" mount -t virtiofs "$_s" "/mnt/$_s"
done
for _s in remap ckpt control; do
  _args=
  for _p in $STAT_PATHS; do _args="$_args /mnt/$_s/$_p"; done
  vfsd_data "$_s:ino" vfsd-probe stat $_args
done
for _s in remap ckpt control; do vfsd_check "$_s/umount" umount "/mnt/$_s"; done
