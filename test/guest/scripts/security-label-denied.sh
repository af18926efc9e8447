# Guest side of the second boot of test/guest/security-label.test.ts: the server's --xattrmap
# denies security.selinux, so storing the label of every new object fails (EPERM). Each create
# must fail with EPERM, and the host then checks nothing was left behind.
vfsd_check denied/mount vfsd_mount || exit 1
eperm() { # NAME CMD...: PASS if CMD fails with "Operation not permitted"
  _n=$1
  shift
  if _o=$("$@" 2>&1); then vfsd_result "$_n" FAIL "succeeded"
  else case "$_o" in *"Operation not permitted"*) vfsd_result "$_n" PASS ;; *) vfsd_result "$_n" FAIL "$_o" ;; esac
  fi
}
eperm denied/mkdir mkdir "$VFSD_MNT/denied-dir"
eperm denied/create sh -c "echo data > '$VFSD_MNT/denied-file'"
eperm denied/mknod-fifo mkfifo "$VFSD_MNT/denied-fifo"
eperm denied/symlink ln -s x "$VFSD_MNT/denied-link"
vfsd_check denied/umount vfsd_umount
