#!/usr/bin/env bash
# Builds the acceptance guest on demand: Debian's 6.1 kernel (downloaded, unpacked, never installed)
# and a busybox initramfs with the virtiofs modules, /init, the shell library and vfsd-probe.
#
#   scripts/guest/build-guest.sh [--force]
#
# Output: the artifact directory on the last line of stdout (vmlinuz, initrd.gz, kernel-version,
# modules). Progress goes to stderr. The directory is $VFSD_GUEST_CACHE/<key> (default
# /var/cache/vfsd-guest/<key>), where <key> hashes this script and every file it puts in the guest:
# changing any of them builds a new guest, an unchanged tree reuses the cached one. A lock makes
# concurrent callers wait for one build instead of racing.
#
# Needs (scripts/install-deps.sh installs them): apt-get, dpkg-deb, kmod (modinfo), busybox-static,
# cpio, gzip, gcc + libc6-dev (static link of vfsd-probe), util-linux (flock).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
force=
for a in "$@"; do
  case "$a" in
    --force) force=1 ;;
    -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
    *) echo "build-guest.sh: unknown argument $a" >&2; exit 2 ;;
  esac
done

# Modules the guest loads, in any order: their dependencies are resolved below with modinfo.
# virtio-fs and its transport; the console is the built-in 8250 serial port (ttyS0).
wanted_modules=(virtio_pci virtiofs)

inputs=("$here/build-guest.sh" "$here/init" "$here/vfsd-lib.sh" "$here/vfsd-probe.c")
key=$(cat "${inputs[@]}" | sha256sum | cut -c1-16)
cache_root=${VFSD_GUEST_CACHE:-/var/cache/vfsd-guest}
out=$cache_root/$key

log() { echo "build-guest: $*" >&2; }
die() { echo "build-guest: error: $*" >&2; exit 1; }

mkdir -p "$cache_root" || die "cannot create $cache_root"
exec 9>"$cache_root/.lock"
flock 9

if [ -z "$force" ] && [ -f "$out/READY" ]; then
  echo "$out"
  exit 0
fi

for tool in apt-get apt-cache dpkg-deb modinfo cpio gzip gcc; do
  command -v "$tool" >/dev/null || die "$tool is missing (run scripts/install-deps.sh)"
done
[ -x /bin/busybox ] || die "/bin/busybox is missing (package busybox-static)"

work=$(mktemp -d "$cache_root/.build.XXXXXX")
chmod 755 "$work"
trap 'rm -rf "$work"' EXIT

# The meta package linux-image-amd64 depends on the real, versioned kernel package.
kernel_pkg() { apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/ { print $2; exit }'; }
pkg=$(kernel_pkg)
if [ -z "$pkg" ]; then
  log "apt lists do not know linux-image-amd64, running apt-get update"
  apt-get update -qq >&2 || die "apt-get update failed"
  pkg=$(kernel_pkg)
fi
[ -n "$pkg" ] || die "cannot resolve the kernel package behind linux-image-amd64"

log "downloading $pkg"
# _apt cannot write into a root-only mktemp dir; give it a world-writable one just for the download.
dl=$work/dl
mkdir -m 1777 "$dl"
if ! (cd "$dl" && apt-get download -qq "$pkg" >&2); then
  log "download failed, refreshing apt lists once"
  apt-get update -qq >&2 || die "apt-get update failed"
  pkg=$(kernel_pkg)
  (cd "$dl" && apt-get download -qq "$pkg" >&2) || die "apt-get download $pkg failed"
fi
deb=$(ls "$dl"/*.deb)
dpkg-deb -x "$deb" "$work/kpkg"
rm -f "$deb"

kver=$(ls "$work/kpkg/lib/modules")
[ -n "$kver" ] || die "no modules directory in $pkg"
moddir=$work/kpkg/lib/modules/$kver
vmlinuz=$work/kpkg/boot/vmlinuz-$kver
[ -f "$vmlinuz" ] || die "no vmlinuz in $pkg"

# Resolve module files and dependencies; the load order puts every dependency before its user.
order=()
declare -A seen=()
add_module() {
  local name=$1 file dep
  [ -n "${seen[$name]:-}" ] && return 0
  seen[$name]=1
  file=$(find "$moddir/kernel" -name "$name.ko" -o -name "$name.ko.xz" -o -name "$name.ko.zst" | head -n1)
  if [ -z "$file" ]; then
    # Built into the kernel: nothing to load.
    grep -q "/$name.ko\$" "$moddir/modules.builtin" 2>/dev/null && return 0
    die "module $name not found in $pkg"
  fi
  for dep in $(modinfo -F depends "$file" | tr ',' ' '); do add_module "$dep"; done
  order+=("$name:$file")
}
for m in "${wanted_modules[@]}"; do add_module "$m"; done

root=$work/root
mkdir -p "$root"/{bin,sbin,dev,proc,sys,tmp,mnt,etc,lib/modules,vfsd}
cp /bin/busybox "$root/bin/busybox"
for applet in $(/bin/busybox --list); do
  [ -e "$root/bin/$applet" ] || ln -s busybox "$root/bin/$applet"
done
: > "$root/etc/vfsd-modules"
for entry in "${order[@]}"; do
  name=${entry%%:*} file=${entry#*:}
  case "$file" in
    *.ko.xz) xz -dc "$file" > "$root/lib/modules/$name.ko" ;;
    *.ko.zst) zstd -qdc "$file" > "$root/lib/modules/$name.ko" ;;
    *) cp "$file" "$root/lib/modules/$name.ko" ;;
  esac
  echo "$name" >> "$root/etc/vfsd-modules"
done
# The kernel opens /dev/console before /init runs (devtmpfs is mounted only by /init).
mknod -m 600 "$root/dev/console" c 5 1
install -m 755 "$here/init" "$root/init"
install -m 644 "$here/vfsd-lib.sh" "$root/lib/vfsd-lib.sh"
gcc -static -O2 -Wall -o "$root/bin/vfsd-probe" "$here/vfsd-probe.c" || die "cannot build vfsd-probe"
strip "$root/bin/vfsd-probe" 2>/dev/null || true

mkdir -p "$work/out"
(cd "$root" && find . | LC_ALL=C sort | cpio -o -H newc --owner 0:0 --quiet) | gzip -n -6 > "$work/out/initrd.gz"
cp "$vmlinuz" "$work/out/vmlinuz"
echo "$kver" > "$work/out/kernel-version"
echo "$pkg" > "$work/out/kernel-package"
cp "$root/etc/vfsd-modules" "$work/out/modules"
touch "$work/out/READY"

rm -rf "$out"
mv "$work/out" "$out"
log "guest ready: kernel $kver, modules $(tr '\n' ' ' < "$out/modules")"
echo "$out"
