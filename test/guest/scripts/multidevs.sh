# Guest side of test/guest/multidevs.test.ts: one virtio-fs device per server (tag = the
# server's column), each mounted at /mnt/TAG, all showing the same host tree. The host prepends:
#   SHARES="tag ..."         the devices to mount
#   TREE=root                the tree, relative to every share
#   LABELS="label ..."       scan moments; caches are dropped between two of them
#   HIDDEN="rel ..."         tree-relative paths a mount hides (sentinels): looked up by name
#   FORBIDDEN="mp:file ..."  (forbid only) the tree's top-level mount points, a file inside each
#   REVISIT="rel ..."        paths to stat before the first scan, in this order (the host picks an
#                            order that reaches the devices differently from the boot before)
# (Loop variables avoid the names vfsd-lib.sh uses: vfsd_result sets _n and _s.)
# Results and data channels carry the tag as a prefix ("TAG:tree/..."), so the host can put each
# server in its own column.

lookup_hidden() {
  _bad=
  for _p in $HIDDEN; do
    if [ -e "/mnt/$1/$TREE/$_p" ] || [ -L "/mnt/$1/$TREE/$_p" ]; then _bad="$_bad $_p"; fi
  done
  if [ -z "$_bad" ]; then vfsd_result "$1:$TREE/sentinel-lookup@$2" PASS
  else vfsd_result "$1:$TREE/sentinel-lookup@$2" FAIL "visible:$_bad"; fi
}

# The names in a directory as the shell's glob finds them: readdir only, no stat of the entries
# (busybox ls lstat()s every entry it lists, so it reports a forbidden name as an error instead).
list_names() (
  cd "$1" && printf '%s\n' *
)

# Under forbid: what a process sees at and inside each mount point of another device. The host
# judges the raw output (errno numbers from vfsd-probe, messages from busybox).
probe_forbidden() {
  for _f in $FORBIDDEN; do
    _mp=${_f%%:*}
    _file=${_f#*:}
    case "$_mp" in */*) _par=${_mp%/*} ;; *) _par=. ;; esac
    _d="/mnt/$1/$TREE"
    vfsd_data "$1:stat:$_mp" vfsd-probe stat "$_d/$_mp"
    vfsd_data "$1:open:$_mp" vfsd-probe sha256 "$_d/$_mp/$_file"
    vfsd_data "$1:ls:$_mp" ls "$_d/$_mp"
    vfsd_data "$1:ls-parent:$_mp" ls -a "$_d/$_par"
    vfsd_data "$1:glob-parent:$_mp" list_names "$_d/$_par"
  done
}

for _share in $SHARES; do
  mkdir -p "/mnt/$_share"
  vfsd_check "$_share:share/mount" mount -t virtiofs "$_share" "/mnt/$_share"
done

for _share in $SHARES; do
  for _p in $REVISIT; do vfsd-probe stat "/mnt/$_share/$TREE/$_p" > /dev/null; done
done

_first=1
for _l in $LABELS; do
  [ -n "$_first" ] || vfsd_drop_caches
  for _share in $SHARES; do
    vfsd_data "$_share:scan:$_l" vfsd-probe scan "/mnt/$_share/$TREE"
    lookup_hidden "$_share" "$_l"
    if [ "$_share" = forbid ] && [ -n "$_first" ]; then probe_forbidden "$_share"; fi
  done
  _first=
done

for _share in $SHARES; do vfsd_check "$_share:share/umount" umount "/mnt/$_share"; done
