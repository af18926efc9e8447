#!/bin/sh
# Installs this checkout's vfsd where VM managers find it and AppArmor lets libvirt run it:
#
#   sudo scripts/install-system.sh             /usr/bin/vfsd + /usr/share/qemu/vhost-user/40-vfsd.json
#   sudo scripts/install-system.sh --uninstall  removes both
#
# /usr/bin/vfsd is a small wrapper script, not a symlink: Debian's libvirtd AppArmor profile
# (/etc/apparmor.d/usr.sbin.libvirtd) lets libvirtd execute /usr/bin/* (and virtiofsd only under
# the name virtiofsd), and AppArmor judges the path a symlink resolves to, so a link into this
# checkout or into npm's global node_modules (/usr/local/... is not in the profile) is refused.
# 40-vfsd.json sorts before Debian's 50-qemu-virtiofsd.json: libvirt takes the first "fs" file by
# name, so shares without <binary path> get vfsd. Build first: npm ci && npm run build.
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
bin=/usr/bin/vfsd
json=/usr/share/qemu/vhost-user/40-vfsd.json
case "${1:-}" in
  --uninstall) rm -f "$bin" "$json"; echo "removed $bin $json"; exit 0 ;;
  '') ;;
  *) echo "usage: $0 [--uninstall]" >&2; exit 2 ;;
esac
main="$here/dist/src/cli/main.js"
[ -f "$main" ] || { echo "install-system: $main is missing: run npm ci && npm run build" >&2; exit 1; }
node=$(command -v node) || { echo "install-system: node is not in PATH" >&2; exit 1; }
tmp=$(mktemp)
printf '#!/bin/sh\nexec %s %s "$@"\n' "$node" "$main" > "$tmp"
install -m 0755 "$tmp" "$bin"
rm -f "$tmp"
install -D -m 0644 "$here/data/40-vfsd.json" "$json"
echo "installed $bin (runs $main) and $json"
