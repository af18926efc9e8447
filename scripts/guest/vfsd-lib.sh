# Shell library for acceptance scripts run inside the guest (sourced by /init before the script).
# Everything a check prints goes to the console with a VFSD- marker; see /init for the protocol.

# vfsd_result NAME PASS|FAIL [DETAIL...]: report one check. DETAIL is flattened to one line.
vfsd_result() {
  _n=$1 _s=$2
  shift 2
  [ "$_s" = PASS ] || : > /tmp/.vfsd-failed
  echo "VFSD-RESULT $_n $_s $(echo "$*" | tr '\n' ' ')"
}

# vfsd_check NAME CMD...: PASS if CMD exits 0, else FAIL with the end of its output. Returns
# CMD's success, so `vfsd_check x/mount ... || exit 1` stops a script whose share is not there.
vfsd_check() {
  _n=$1
  shift
  if _o=$("$@" 2>&1); then vfsd_result "$_n" PASS; else vfsd_result "$_n" FAIL "rc=$? $(echo "$_o" | tail -n 3)"; return 1; fi
}

# vfsd_expect NAME EXPECTED ACTUAL
vfsd_expect() {
  if [ "$2" = "$3" ]; then vfsd_result "$1" PASS; else vfsd_result "$1" FAIL "expected '$2' got '$3'"; fi
}

# vfsd_absent NAME PATH: PASS if PATH does not exist (lookup, not readdir).
vfsd_absent() {
  if [ -e "$2" ] || [ -L "$2" ]; then vfsd_result "$1" FAIL "$2 is visible"; else vfsd_result "$1" PASS; fi
}

# vfsd_data CHANNEL CMD...: run CMD and send each output line as "VFSD-DATA CHANNEL line";
# the exit status of CMD is sent last as "VFSD-DATA CHANNEL .rc N".
vfsd_data() {
  _c=$1
  shift
  "$@" > /tmp/.vfsd-data 2>/tmp/.vfsd-data-err
  _rc=$?
  sed "s|^|VFSD-DATA $_c |" /tmp/.vfsd-data
  sed "s|^|VFSD-DATA $_c .err |" /tmp/.vfsd-data-err
  echo "VFSD-DATA $_c .rc $_rc"
  return $_rc
}

# vfsd_sync NAME: tell the host we reached NAME and wait for its "VFSD-GO NAME".
vfsd_sync() {
  echo "VFSD-SYNC $1"
  while IFS= read -r _l; do
    case "$_l" in *"VFSD-GO $1"*) return 0 ;; esac
  done < /dev/console
  echo "VFSD-RESULT guest/sync-$1 FAIL console closed before the host answered"
  return 1
}

vfsd_mount() {
  mount -t virtiofs "$VFSD_TAG" "$VFSD_MNT"
}

# Unmount the share and every submount the guest kernel made below it, deepest first.
vfsd_umount() {
  for _m in $(awk -v m="$VFSD_MNT" '$2 == m || index($2, m "/") == 1 { print $2 }' /proc/mounts | sort -r); do
    umount "$_m" || return 1
  done
}

# Forget cached dentries and pages so the next look goes to the server.
vfsd_drop_caches() {
  sync
  echo 3 > /proc/sys/vm/drop_caches
}
