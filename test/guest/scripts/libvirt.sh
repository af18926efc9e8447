# Guest side of test/acceptance/libvirt.test.ts. The host prepends:
#   SHARES='tag ...'   virtio-fs tags to check, one daemon each (vfsd and the C virtiofsd)
#   XATTR=1|0          whether the shares have xattr='on'
#   LOCKS=1|0          whether to hold a flock(2) and a POSIX lock the host then probes
#   AFTER=...          what to do after the checks: 'ready' (print VFSD-RESULT ready and wait to be
#                      destroyed), 'hotplug TAG...' (wait for hot-plugged tags, check them, unmount,
#                      wait for their removal, then wait to be destroyed) or nothing (power off)
# Each share's host side holds hostfile ("from the host") with user.vfsd.host=host-value when
# XATTR=1. The host checks every change below from its side after the guest is gone.

# share_checks TAG: read, write, rename, chown, xattrs (and a lock) on /mnt/TAG; results TAG/...
share_checks() {
  t=$1
  M=/mnt/$t
  mkdir -p "$M"
  vfsd_check "$t/mount" mount -t virtiofs "$t" "$M" || return 1
  vfsd_expect "$t/read-host-file" "from the host" "$(cat "$M/hostfile")"
  echo "from the guest" > "$M/guestfile"
  vfsd_drop_caches
  vfsd_expect "$t/write-read-back" "from the guest" "$(cat "$M/guestfile")"
  echo moved > "$M/before"
  vfsd_check "$t/rename" mv "$M/before" "$M/after"
  vfsd_absent "$t/rename-old-name-gone" "$M/before"
  mkdir "$M/dir"
  echo owned > "$M/dir/owned"
  vfsd_check "$t/chown" chown 1234:4321 "$M/dir/owned"
  vfsd_expect "$t/chown-seen" "1234:4321" "$(stat -c %u:%g "$M/dir/owned")"
  if [ "$XATTR" = 1 ]; then
    vfsd_expect "$t/getxattr-host-set" host-value "$(vfsd-probe xattr get "$M/hostfile" user.vfsd.host)"
    vfsd_check "$t/setxattr" vfsd-probe xattr set "$M/guestfile" user.vfsd.guest guest-value
  fi
  if [ "$LOCKS" = 1 ]; then
    # The host probes each lock while the guest holds it (it answers on its own: no console input).
    # (not through vfsd_check: its "held" line must reach the console while the lock is held)
    for kind in flock posix; do
      vfsd-probe lock $kind "$M/lockfile" 6 "lock $t $kind" 2>/tmp/.lock-err
      _rc=$?
      if [ $_rc = 0 ]; then vfsd_result "$t/$kind-lock" PASS; else vfsd_result "$t/$kind-lock" FAIL "rc=$_rc $(cat /tmp/.lock-err)"; fi
    done
  fi
  sync
  vfsd_check "$t/umount" umount "$M"
}

fs_devices() { grep -l 0x001a /sys/bus/virtio/devices/*/device 2>/dev/null | wc -l; }
# (a function, so that wait_until counts again on each try)
fs_devices_at_most() { [ "$(fs_devices)" -le "$1" ]; }

# wait_until SECONDS CMD...: poll CMD once a second.
wait_until() {
  _n=$1
  shift
  while [ "$_n" -gt 0 ]; do
    "$@" && return 0
    sleep 1
    _n=$((_n - 1))
  done
  return 1
}

for s in $SHARES; do share_checks "$s"; done

set -- $AFTER
case "$1" in
  ready)
    vfsd_result ready PASS
    sleep 600
    ;;
  hotplug)
    shift
    before=$(fs_devices)
    echo "VFSD-DATA hotplug attach"
    for s in "$@"; do
      mkdir -p "/mnt/$s"
      vfsd_check "$s/hot-attached" wait_until 60 mount -t virtiofs "$s" "/mnt/$s" && umount "/mnt/$s"
      share_checks "$s"
    done
    echo "VFSD-DATA hotplug detach"
    # The guest's acpiphp ejects each device when libvirt asks (device_del); QEMU then drops it.
    vfsd_check hotplug/detached wait_until 60 fs_devices_at_most "$before" ||
      dmesg | grep -iE 'pci|acpi|virtio' | tail -n 20 | sed 's/^/VFSD-DATA hotplug-dmesg /'
    # The host checks that the detached daemons are gone while the domain still runs, then
    # destroys it (powering off would stop every daemon and hide a leftover one).
    echo "VFSD-DATA hotplug wait"
    sleep 600
    ;;
esac
