#!/usr/bin/env bash
# Installs every Debian package the project's build, tests and benchmarks need.
#
#   scripts/install-deps.sh               install (or confirm) all of them
#   scripts/install-deps.sh --if-missing  do nothing, silently, when all are installed already;
#                                         otherwise apt-get update + install only what is missing
#
# Exits non-zero with a message naming the packages when installation fails.
set -euo pipefail

# One entry per need; "a|b" means either package will do (the first one apt knows is installed).
packages=(
  # native addon build (node-gyp)
  gcc g++ make python3 libc6-dev
  # /dev/fuse integration tests and the fuse-native peer in benchmarks
  fuse3 libfuse3-dev 'libfuse2|libfuse2t64'
  # filesystems and mounts for submount / multidevs tests
  xfsprogs btrfs-progs e2fsprogs util-linux mount attr
  # POSIX ACLs in the permission tests (setfacl, getfacl)
  acl
  # QEMU guest acceptance: QEMU, the C virtiofsd peer (qemu-system-common), the guest build
  # (kernel package unpacked with dpkg-deb, modules resolved with kmod, busybox initramfs)
  qemu-system-x86 qemu-system-common busybox-static cpio gzip kmod
  # a real libvirt launching vfsd (test/guest/libvirt.test.ts): libvirtd, virtlogd, virsh;
  # python3 (above) also plays libvirt's locked pid file in test/process/cli-daemon-fds.test.ts
  libvirt-daemon-system libvirt-clients
  # newuidmap/newgidmap: an unprivileged vfsd's --uid-map/--gid-map (test/process/sandbox-userns.test.ts)
  uidmap
  # benchmarks and debugging
  fio strace
)

if_missing=
for a in "$@"; do
  case "$a" in
    --if-missing) if_missing=1 ;;
    -h|--help) sed -n '2,8p' "$0"; exit 0 ;;
    *) echo "install-deps.sh: unknown argument $a" >&2; exit 2 ;;
  esac
done

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }

# An entry is satisfied when any of its alternatives is installed.
satisfied() {
  local alt
  IFS='|' read -ra alts <<< "$1"
  for alt in "${alts[@]}"; do installed "$alt" && return 0; done
  return 1
}

missing=()
for entry in "${packages[@]}"; do satisfied "$entry" || missing+=("$entry"); done

if [ ${#missing[@]} -eq 0 ]; then
  [ -n "$if_missing" ] || echo "install-deps: all ${#packages[@]} packages are installed"
  exit 0
fi

die() { echo "install-deps: error: $*" >&2; exit 1; }

if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || die "missing packages (${missing[*]}) and not root; run as root"
  exec sudo -n "$0" "$@"
fi

echo "install-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt_opts=(-y -qq --no-install-recommends -o DPkg::Lock::Timeout=600)
apt-get update -qq -o DPkg::Lock::Timeout=600 >&2 || die "apt-get update failed"

# Resolve alternatives to the first package apt knows.
to_install=()
for entry in "${missing[@]}"; do
  pick=
  IFS='|' read -ra alts <<< "$entry"
  for alt in "${alts[@]}"; do
    if apt-cache show "$alt" >/dev/null 2>&1; then pick=$alt; break; fi
  done
  [ -n "$pick" ] || die "no package for '$entry' in the apt sources"
  to_install+=("$pick")
done

apt-get install "${apt_opts[@]}" "${to_install[@]}" >&2 || die "apt-get install failed for: ${to_install[*]}"

still=()
for entry in "${missing[@]}"; do satisfied "$entry" || still+=("$entry"); done
[ ${#still[@]} -eq 0 ] || die "still not installed after apt-get: ${still[*]}"

# QEMU 8+ no longer ships the C virtiofsd; the acceptance tests need it as the peer to compare with.
if [ ! -x /usr/lib/qemu/virtiofsd ] && [ -z "${VFSD_VIRTIOFSD:-}" ]; then
  echo "install-deps: warning: /usr/lib/qemu/virtiofsd is absent (QEMU >= 8); set VFSD_VIRTIOFSD to a virtiofsd" >&2
fi
echo "install-deps: done" >&2
