# Guest side of the submount and bind-mount acceptance tests (test/helpers/acceptance.ts).
# The host prepends:
#   TREES="root ..."          tree roots, relative to the share
#   check_sentinels LABEL     looks up (by name, not readdir) every path a mount must hide or keep
#                             visible, and reports one result per tree
# Sync points: "booted" (the host makes the after-boot trees while the share is not yet mounted)
# and "mounted" (the host makes the after-mount trees while the guest has the share mounted and has
# already looked at the mount points).
M=$VFSD_MNT

scan_all() {
  for _t in $TREES; do vfsd_data "scan:$1:$_t" vfsd-probe scan "$M/$_t"; done
  vfsd_data "mountinfo:$1" cat /proc/self/mountinfo
  check_sentinels "$1"
}

vfsd_sync booted
vfsd_check share/mount vfsd_mount || exit 1
# Look at everything once, so the guest holds dentries for the mount points (and the sentinels
# under them) before the host mounts over them.
vfsd-probe scan "$M" > /dev/null
vfsd_sync mounted
# Cached entries may legitimately live until their timeout; dropping them makes the next look
# reach the server without depending on any server's timeout.
vfsd_drop_caches
scan_all mounted

vfsd_check share/umount vfsd_umount
vfsd_check share/remount vfsd_mount || exit 1
scan_all remounted
vfsd_check share/final-umount vfsd_umount
