// `vfsd --help`: grouped by topic, man-page style.
export const VERSION = '0.1.0';

export const HELP = `vfsd ${VERSION} - virtio-fs / FUSE passthrough file server

USAGE
  vfsd --shared-dir DIR --socket-path PATH [options]   serve QEMU's vhost-user-fs-pci
  vfsd --shared-dir DIR --fd N [options]               ... on a socket the VM manager made
  vfsd --shared-dir DIR --mount MNT [options]          mount DIR on MNT over /dev/fuse

EXPORT
  --shared-dir DIR          directory to export (also: -o source=DIR)
  --readonly                refuse every change with EROFS
  --xattr / --no-xattr      extended attributes (default: off)
  --cache MODE              auto | always | metadata | never (default: auto); none is never
                            (libvirt's <cache mode='none'/>)
  --inode-file-handles M    auto | never | prefer | mandatory (default: auto): auto keeps open
                            fds for the recently used inodes, within a budget below the
                            open-file limit, and file handles for the rest; never: one fd per
                            inode; prefer/mandatory: file handles only
  --posix-lock / --no-posix-lock, --flock / --no-flock
                            POSIX record locks and flock() shared with the host (default: on)
  --no-passthrough          do not use FUSE passthrough on /dev/fuse
  --killpriv-v2 / --no-killpriv-v2
                            let the server clear setuid/setgid bits after a write, truncate or
                            chown (FUSE_HANDLE_KILLPRIV_V2; default: off, as in virtiofsd; either
                            way a writer who is not the owner clears them as on the host)
  --no-readdirplus          list directories with plain READDIR (no attributes per entry)
  --xattrmap RULES          rename xattrs between client and host, virtiofsd's rules
                            (:type:scope:key:prefix: or :map:key:prefix:, e.g.
                            ':map:trusted.:user.virtiofs.:'); implies --xattr
  --posix-acl[=MODE]        never | auto | always (bare: always): FUSE_POSIX_ACL; auto only
                            if the client offers it, always refuses a client without it
  --preserve-noatime        keep the client's O_NOATIME (default: stripped, as virtiofsd)
  --writeback               kernel write-back caching (only for exports nobody else writes)
  --allow-direct-io         keep the client's O_DIRECT on host files (vhost-user only)
  --allow-mmap              let direct-I/O files (cache never/metadata) be mmap'd shared
  --security-label[=MODE]   never | auto | always (bare: always): FUSE_SECURITY_CTX; store the
                            label the guest's LSM gives each new file (implies --xattr; a host
                            without an LSM may need --modcaps=+sys_admin for security.* xattrs)

SUBMOUNTS AND DEVICES
  --announce-submounts      show each host mount as its own filesystem in the guest (default)
  --no-announce-submounts   ... do not
  --multidevs POLICY        remap | forbid | warn | default(=remap): what a client that sees one
                            device gets for objects on other host devices
  --state-dir DIR           per-share state (the remap device registry)
  --state-backup-dir DIR    where state is copied before teardown and recovered from

ID TRANSLATION (as the Rust virtiofsd; each option repeatable)
  --translate-uid RULE      translate uids between guest and host; RULE is one of
      map:GUEST:HOST:COUNT            GUEST+i <-> HOST+i, both directions
      guest:GUEST:HOST:COUNT          GUEST+i  -> HOST+i (guest to host only)
      host:HOST:GUEST:COUNT           HOST+i   -> GUEST+i (host to guest only)
      squash-guest:GUEST:HOSTID:COUNT every GUEST+i -> HOSTID
      squash-host:HOST:GUESTID:COUNT  every HOST+i  -> GUESTID
      forbid-guest:GUEST:COUNT        guest ids GUEST+i are refused (EPERM)
                            The last number is a COUNT, not a last id (i < COUNT). Rules of
                            one direction must not intersect. An id no rule covers passes
                            UNCHANGED in both directions: to allow only some guest ids, forbid
                            the rest (e.g. forbid-guest:0:1000 map:1000:1000:1
                            forbid-guest:1001:4294966294). 4294967295 is never an id.
  --translate-gid RULE      the same for gids
                            Guest to host: the caller of each request (and its groups), chown
                            targets. Host to guest: every owner the guest sees (attributes,
                            READDIRPLUS, STATX). POSIX ACL xattrs carry ids: refused (ENOTSUP).
                            Not running as root, vfsd acts with its own ids whatever the caller:
                            the rules then still decide what the guest sees, what a chown asks
                            the host for, and which callers are refused.

VHOST-USER (QEMU)
  --socket-path PATH        listen on this unix socket
  --fd N                    accept on this already listening socket
  --socket-group GROUP      group owning the socket
  --tag TAG                 accepted for compatibility (the tag is QEMU's -device option)
  --thread-pool-size N      threads that run what may block (fsync, fallocate, reads
                            missing the page cache, writes of 64 KiB and more, and the
                            lookups/stats/opens/listings/readlinks/statfs/removes/
                            renames of a mount measured slow) off the event loop;
                            0 serves everything inline (default 16)
  --print-capabilities      print the vhost-user backend capabilities as JSON and exit
                            (features: separate-options, read by libvirt)

LOCAL MOUNT (/dev/fuse)
  --mount MNT               mount point
  --allow-other             let other users access the mount (the kernel checks permissions:
                            vfsd mounts with default_permissions; POSIX ACLs too with --xattr)
  --poll-us N               after an answer, keep checking for the next request up to N us
                            before sleeping; adapts to the client's pace (default 200, 0: off)
  --fuse-transport T        dev: read/writev on /dev/fuse (default); uring: FUSE over io_uring
                            (Linux 6.14+, root set /sys/module/fuse/parameters/enable_uring to
                            Y), falling back to dev with a warning; auto: io_uring if allowed

SANDBOX
  --sandbox MODE            namespace: serve from new mount, pid and net namespaces whose root
                            holds only the export (plus /proc and the state dirs' parents);
                            the default for root serving vhost-user (also: -o sandbox=MODE)
                            chroot: chroot(2) into the export, no namespaces (containers);
                            no --state-dir then
                            none: no sandbox; the default for other users and for --mount
  --uid-map=:IN:OUT:COUNT:, --gid-map=:IN:OUT:COUNT:
                            make the namespace sandbox in a new user namespace with these maps
                            (repeatable; libvirt 10 session mode): ids IN.. inside are OUT.. on
                            the host, the server is uid 0 inside (so the uid map must map 0).
                            Root writes them itself, other users through newuidmap/newgidmap
                            and /etc/subuid, /etc/subgid. A map not given: your own id mapped
                            to itself. Implies --sandbox namespace; not with chroot/none
  --modcaps LIST            change the capabilities kept while serving, virtiofsd style:
                            +name or -name joined by ':' (e.g. +sys_admin:-mknod; names as in
                            capabilities(7) without CAP_). Kept by default: chown, dac_override,
                            fowner, fsetid, setgid, setuid, mknod, setfcap (+ dac_read_search
                            with --inode-file-handles). Also: -o modcaps=LIST

PROCESS
  --rlimit-nofile N         raise the open-file limit
  --seccomp ACTION          none | kill | log | trap: what happens to a syscall outside vfsd's
                            allowlist once it serves (default: kill, as virtiofsd; none for an
                            unprivileged --mount, whose unmount needs the setuid fusermount3)
  --syslog                  log to syslog (/dev/log, facility user) instead of stderr
  --log-level LEVEL         error | warn | info | debug | trace | off (default: info)
  --stats-file PATH         where SIGUSR1 and exit write per-opcode counts and latency (JSON)
  -o OPTS                   the C virtiofsd's options: source=DIR, cache=, xattr, no_xattr,
                            announce_submounts, readonly, log_level=, debug, ...; a doubled
                            comma is a literal one (source=/srv/a,,b is /srv/a,b)
  -d                        debug logging (as --log-level debug)
  -h, --help                this text
  -V, --version             the version

SIGNALS
  SIGINT, SIGTERM           finish, save state, unmount / disconnect, exit 0 (libvirt sends
                            SIGTERM to the process group; fds vfsd was started with, such as
                            libvirt's locked pid file, stay open until then)
  SIGUSR1                   log per-opcode counts and latency percentiles (and --stats-file)
`;
