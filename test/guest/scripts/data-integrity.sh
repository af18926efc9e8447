# Guest side of test/guest/data-integrity.test.ts: file data and file operations through the
# share. The host prepends:
#   GW='size:seed:sha256 ...'   files the guest writes with pwrite (vfsd-probe writegen)
#   MM='size:seed:sha256 ...'   files the guest writes through a shared mapping
#   HF='name:sha256 ...'        files the host wrote under host/
#   PIPE_SHA                    sha256 of `vfsd-probe gen 3000001 99`
#   XATTR=1|0                   whether the server was started with xattr support
# and host/ holds hl1+hl2 (one inode), sl -> h_4097, xa with user.vfsd.host=host-value.
# The host checks the results of every write from its side after the guest powered off.
M=$VFSD_MNT
G=$M/guest
H=$M/host
vfsd_check data/mount vfsd_mount || exit 1
mkdir -p "$G"

field() { echo "$1" | cut -d: -f"$2"; }

# 1. Data written by the guest, read back after the page cache is gone.
n=0
for e in $GW; do
  sz=$(field "$e" 1)
  case $((n % 4)) in 0) ch=4096 ;; 1) ch=65536 ;; 2) ch=1048576 ;; *) ch=131076 ;; esac
  n=$((n + 1))
  vfsd_check "data/write-$sz-chunk-$ch" vfsd-probe writegen "$G/w_$sz" "$sz" "$(field "$e" 2)" "$ch"
done
for e in $MM; do
  sz=$(field "$e" 1)
  vfsd_check "data/mmap-write-$sz" vfsd-probe mmapwrite "$G/mm_$sz" "$sz" "$(field "$e" 2)"
done
vfsd-probe gen 3000001 99 > "$G/piped"
cat "$G/piped" > "$G/copied"
dd if="$G/piped" of="$G/dd" bs=7777 2>/dev/null
vfsd_drop_caches
for e in $GW; do
  sz=$(field "$e" 1)
  vfsd_expect "data/read-back-$sz" "$(field "$e" 3)" "$(vfsd-probe sha256 "$G/w_$sz")"
done
for e in $MM; do
  sz=$(field "$e" 1)
  vfsd_expect "data/mmap-write-read-back-$sz" "$(field "$e" 3)" "$(vfsd-probe sha256 "$G/mm_$sz")"
  vfsd_expect "data/mmap-write-mmap-read-$sz" "$(field "$e" 3)" "$(vfsd-probe mmapread "$G/mm_$sz")"
done
for f in piped copied dd; do
  vfsd_expect "data/stream-$f" "$PIPE_SHA" "$(sha256sum < "$G/$f" | cut -d' ' -f1)"
done

# 2. Data written by the host: read(2) and mmap.
for e in $HF; do
  name=$(field "$e" 1)
  vfsd_expect "data/host-file-read-$name" "$(field "$e" 2)" "$(vfsd-probe sha256 "$H/$name")"
  vfsd_expect "data/host-file-mmap-$name" "$(field "$e" 2)" "$(vfsd-probe mmapread "$H/$name")"
done

# 3. Append and truncate.
printf abc > "$G/ap"
printf def >> "$G/ap"
vfsd_expect data/append abcdef "$(cat "$G/ap")"
truncate -s 2 "$G/ap"
vfsd_expect data/truncate-shrink ab "$(cat "$G/ap")"
truncate -s 100000 "$G/ap"
vfsd_expect data/truncate-grow 100000 "$(stat -c %s "$G/ap")"

# 4. Rename: plain, over an existing file, a directory with content into another directory.
vfsd-probe writegen "$G/r_a" 5000 77 4096
sha=$(vfsd-probe sha256 "$G/r_a")
mv "$G/r_a" "$G/r_b"
vfsd_absent data/rename-source-gone "$G/r_a"
vfsd_expect data/rename-content "$sha" "$(vfsd-probe sha256 "$G/r_b")"
echo replaced > "$G/r_c"
mv "$G/r_c" "$G/r_b"
vfsd_expect data/rename-replace replaced "$(cat "$G/r_b")"
vfsd_absent data/rename-replace-source-gone "$G/r_c"
mkdir -p "$G/rd1/inner"
echo moved > "$G/rd1/inner/f"
mkdir "$G/rd2"
mv "$G/rd1" "$G/rd2/moved"
vfsd_absent data/rename-dir-source-gone "$G/rd1"
vfsd_expect data/rename-dir-content moved "$(cat "$G/rd2/moved/inner/f")"
vfsd_check data/rmdir-non-empty-fails sh -c "! rmdir '$G/rd2' 2>/dev/null"
mkdir "$G/empty"
vfsd_check data/rmdir rmdir "$G/empty"

# 5. Hard links: one inode, two names, shared data; the host's pair too.
echo linked > "$G/h1"
ln "$G/h1" "$G/h2"
set -- $(vfsd-probe stat "$G/h1" "$G/h2")
vfsd_expect data/hardlink-same-inode "$4" "${10}"
vfsd_expect data/hardlink-nlink "2 2" "$5 ${11}"
echo more >> "$G/h2"
vfsd_expect data/hardlink-shared-data "linked more" "$(cat "$G/h1" | tr '\n' ' ' | sed 's/ $//')"
set -- $(vfsd-probe stat "$H/hl1" "$H/hl2")
vfsd_expect data/host-hardlink-same-inode "$4" "${10}"
vfsd_expect data/host-hardlink-nlink "2 2" "$5 ${11}"
rm "$H/hl2"
set -- $(vfsd-probe stat "$H/hl1")
vfsd_expect data/hardlink-unlink-nlink 1 "$5"

# 6. Symbolic links: relative, dangling absolute, the host's.
ln -s w_4096 "$G/sl_rel"
ln -s /nonexistent/target "$G/sl_abs"
vfsd_expect data/symlink-readlink w_4096 "$(readlink "$G/sl_rel")"
vfsd_expect data/symlink-follow "$(vfsd-probe sha256 "$G/w_4096")" "$(vfsd-probe sha256 "$G/sl_rel")"
vfsd_expect data/symlink-dangling /nonexistent/target "$(readlink "$G/sl_abs")"
vfsd_expect data/host-symlink-readlink h_4097 "$(readlink "$H/sl")"
vfsd_expect data/host-symlink-follow "$(vfsd-probe sha256 "$H/h_4097")" "$(vfsd-probe sha256 "$H/sl")"

# 7. Extended attributes (user namespace), set and removed from both sides.
if [ "$XATTR" = 1 ]; then
  echo x > "$G/xa"
  vfsd_check data/xattr-set vfsd-probe xattr set "$G/xa" user.vfsd.guest guest-value
  vfsd_expect data/xattr-get guest-value "$(vfsd-probe xattr get "$G/xa" user.vfsd.guest)"
  vfsd_check data/xattr-list sh -c "vfsd-probe xattr list '$G/xa' | grep -qx user.vfsd.guest"
  vfsd_check data/xattr-set-dir vfsd-probe xattr set "$G" user.vfsd.dir dir-value
  vfsd_expect data/host-xattr-get host-value "$(vfsd-probe xattr get "$H/xa" user.vfsd.host)"
  vfsd_check data/xattr-remove vfsd-probe xattr remove "$H/xa" user.vfsd.host
  vfsd_check data/xattr-removed-is-gone sh -c "! vfsd-probe xattr get '$H/xa' user.vfsd.host 2>/dev/null"
fi

# 8. Many directory entries: create, list, unlink some, list again.
mkdir "$G/many"
i=0
while [ $i -lt 200 ]; do
  : > "$G/many/f$i"
  i=$((i + 1))
done
vfsd_expect data/readdir-200 200 "$(ls "$G/many" | wc -l)"
rm "$G"/many/f1*
vfsd_expect data/readdir-after-unlink 89 "$(ls "$G/many" | wc -l)"

sync
vfsd_check data/umount vfsd_umount
