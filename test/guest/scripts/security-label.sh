# Guest side of test/guest/security-label.test.ts: the guest kernel boots with SELinux enabled
# (security=selinux) and no policy, so its LSM gives every new file a context and the guest's
# FUSE sends it with each creating request. The script only creates; the host checks the
# security.selinux xattr each object got, from its side, after the guest powered off.
mkdir -p /sys/kernel/security
mount -t securityfs securityfs /sys/kernel/security 2>/dev/null
vfsd_data lsm cat /sys/kernel/security/lsm
vfsd_check label/mount vfsd_mount || exit 1
G=$VFSD_MNT/guest
vfsd_check label/mkdir mkdir "$G"
vfsd_check label/create sh -c "echo data > '$G/file'"
vfsd_check label/mkdir-nested mkdir "$G/dir"
vfsd_check label/mknod-fifo mkfifo "$G/fifo"
vfsd_check label/symlink ln -s file "$G/link"
vfsd_check label/umount vfsd_umount
