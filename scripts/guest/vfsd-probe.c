/*
 * vfsd-probe: the one compiled tool inside the acceptance guest.
 *
 * The guest is a busybox initramfs with no compiler; busybox has no mmap tool, no xattr tool and
 * spawning one `stat` per file is slow under TCG. This static helper does those jobs in one process.
 * Its output is plain lines that the host parses (test/helpers/guest.ts); it never decides whether
 * a check passed unless the subcommand is a check (verify, absent).
 *
 * Built on the host with `gcc -static -O2` by scripts/guest/build-guest.sh.
 *
 * Subcommands (paths are printed %XX-escaped outside [A-Za-z0-9._/+-]):
 *   gen SIZE SEED                    deterministic bytes (xorshift32, little endian) to stdout
 *   writegen FILE SIZE SEED CHUNK    write gen bytes into FILE with pwrite() calls of CHUNK bytes
 *   mmapwrite FILE SIZE SEED         ftruncate FILE to SIZE, fill it through a MAP_SHARED mapping, msync
 *   mmapread FILE                    print the sha256 of FILE read through a MAP_PRIVATE mapping
 *   sha256 FILE                      print the sha256 of FILE read with read()
 *   scan DIR                         walk DIR (lstat, no symlink following, crossing mounts) and print
 *                                    one line per entry: path type dev ino nlink size extra
 *                                    (extra = sha256 for files, escaped target for symlinks, - else)
 *   stat PATH...                     print path type dev ino nlink size for each PATH (errno if none)
 *   statfs PATH                      print f_type f_bsize f_blocks
 *   xattr set FILE NAME VALUE | get FILE NAME | list FILE | remove FILE NAME
 *   lock flock|posix FILE SECONDS CHANNEL
 *                                    take an exclusive lock on FILE without waiting (flock(2)
 *                                    LOCK_NB, or a POSIX write lock over the whole file with
 *                                    F_SETLK: the C virtiofsd refuses blocking ones), print
 *                                    "VFSD-DATA CHANNEL held", hold it SECONDS, release (busybox
 *                                    has no flock)
 *   blocks FILE SIZE COUNT EVERY CHANNEL
 *                                    write COUNT numbered blocks of SIZE bytes (block i at offset
 *                                    i*SIZE: "VFSD-BLK %010u\n" in a zeroed 32-byte header, then gen
 *                                    bytes seeded i*2654435761+1); fsync after every EVERY blocks
 *                                    and then print "VFSD-DATA CHANNEL fsynced N" (N blocks durable);
 *                                    EVERY 0: no fsync, "VFSD-DATA CHANNEL wrote N" after each block.
 *                                    Ends with "... complete N" or "... error ERRNO where". The fault
 *                                    tests kill the server mid-stream and check the host file.
 *
 * Exit status: 0 on success, 1 on a failed syscall (message on stderr), 2 on bad usage.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <sys/xattr.h>
#include <unistd.h>

/* ---- SHA-256 (FIPS 180-4), written for this tool ---- */

typedef struct {
  uint32_t h[8];
  uint64_t total;
  uint8_t block[64];
  size_t used;
} sha256_ctx;

static const uint32_t K[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2};

#define ROR(x, n) (((x) >> (n)) | ((x) << (32 - (n))))

static void sha256_block(sha256_ctx *c, const uint8_t *p) {
  uint32_t w[64];
  for (int i = 0; i < 16; i++)
    w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 | (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
  for (int i = 16; i < 64; i++) {
    uint32_t s0 = ROR(w[i - 15], 7) ^ ROR(w[i - 15], 18) ^ (w[i - 15] >> 3);
    uint32_t s1 = ROR(w[i - 2], 17) ^ ROR(w[i - 2], 19) ^ (w[i - 2] >> 10);
    w[i] = w[i - 16] + s0 + w[i - 7] + s1;
  }
  uint32_t a = c->h[0], b = c->h[1], cc = c->h[2], d = c->h[3], e = c->h[4], f = c->h[5], g = c->h[6], h = c->h[7];
  for (int i = 0; i < 64; i++) {
    uint32_t t1 = h + (ROR(e, 6) ^ ROR(e, 11) ^ ROR(e, 25)) + ((e & f) ^ (~e & g)) + K[i] + w[i];
    uint32_t t2 = (ROR(a, 2) ^ ROR(a, 13) ^ ROR(a, 22)) + ((a & b) ^ (a & cc) ^ (b & cc));
    h = g; g = f; f = e; e = d + t1; d = cc; cc = b; b = a; a = t1 + t2;
  }
  c->h[0] += a; c->h[1] += b; c->h[2] += cc; c->h[3] += d;
  c->h[4] += e; c->h[5] += f; c->h[6] += g; c->h[7] += h;
}

static void sha256_init(sha256_ctx *c) {
  static const uint32_t iv[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
  memcpy(c->h, iv, sizeof iv);
  c->total = 0;
  c->used = 0;
}

static void sha256_update(sha256_ctx *c, const uint8_t *p, size_t n) {
  c->total += n;
  if (c->used) {
    size_t take = 64 - c->used < n ? 64 - c->used : n;
    memcpy(c->block + c->used, p, take);
    c->used += take; p += take; n -= take;
    if (c->used < 64) return;
    sha256_block(c, c->block);
    c->used = 0;
  }
  for (; n >= 64; p += 64, n -= 64) sha256_block(c, p);
  memcpy(c->block, p, n);
  c->used = n;
}

static void sha256_hex(sha256_ctx *c, char out[65]) {
  uint64_t bits = c->total * 8;
  uint8_t pad = 0x80, zero = 0, len[8];
  sha256_update(c, &pad, 1);
  while (c->used != 56) sha256_update(c, &zero, 1);
  for (int i = 0; i < 8; i++) len[i] = (uint8_t)(bits >> (56 - 8 * i));
  sha256_update(c, len, 8);
  for (int i = 0; i < 8; i++) sprintf(out + 8 * i, "%08x", c->h[i]);
}

/* ---- helpers ---- */

static int fail(const char *what, const char *path) {
  fprintf(stderr, "vfsd-probe: %s %s: %s\n", what, path ? path : "", strerror(errno));
  return 1;
}

static void put_escaped(const char *s) {
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
        strchr("._/+-", *p))
      putchar(*p);
    else
      printf("%%%02X", *p);
  }
}

/* xorshift32 keystream; the host (test/helpers/guest.ts genBytes) implements the same. */
static void gen_fill(uint8_t *buf, size_t n, uint32_t *state) {
  uint32_t x = *state;
  for (size_t i = 0; i < n; i += 4) {
    x ^= x << 13; x ^= x >> 17; x ^= x << 5;
    for (size_t j = 0; j < 4 && i + j < n; j++) buf[i + j] = (uint8_t)(x >> (8 * j));
  }
  *state = x;
}

static uint32_t seed_state(const char *s) {
  uint32_t v = (uint32_t)strtoul(s, NULL, 0);
  return v ? v : 0x9e3779b9u; /* xorshift must not start at 0 */
}

static int hash_fd(int fd, const char *path, char hex[65]) {
  static uint8_t buf[1 << 16];
  sha256_ctx c;
  sha256_init(&c);
  for (;;) {
    ssize_t r = read(fd, buf, sizeof buf);
    if (r < 0) {
      if (errno == EINTR) continue;
      return fail("read", path);
    }
    if (r == 0) break;
    sha256_update(&c, buf, (size_t)r);
  }
  sha256_hex(&c, hex);
  return 0;
}

static char type_char(mode_t m) {
  if (S_ISREG(m)) return 'f';
  if (S_ISDIR(m)) return 'd';
  if (S_ISLNK(m)) return 'l';
  if (S_ISFIFO(m)) return 'p';
  if (S_ISSOCK(m)) return 's';
  if (S_ISCHR(m)) return 'c';
  if (S_ISBLK(m)) return 'b';
  return '?';
}

static void print_stat(const char *path, const struct stat *st) {
  put_escaped(path);
  printf(" %c %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRId64, type_char(st->st_mode), (uint64_t)st->st_dev,
         (uint64_t)st->st_ino, (uint64_t)st->st_nlink, (int64_t)st->st_size);
}

/* ---- subcommands ---- */

static int cmd_gen(uint64_t size, const char *seed) {
  static uint8_t buf[1 << 16];
  uint32_t st = seed_state(seed);
  while (size) {
    size_t n = size < sizeof buf ? (size_t)size : sizeof buf;
    gen_fill(buf, n, &st);
    if (fwrite(buf, 1, n, stdout) != n) return fail("write", "stdout");
    size -= n;
  }
  return fflush(stdout) ? fail("flush", "stdout") : 0;
}

static int cmd_writegen(const char *path, uint64_t size, const char *seed, size_t chunk) {
  if (chunk == 0 || chunk % 4) { fprintf(stderr, "vfsd-probe: CHUNK must be a multiple of 4\n"); return 2; }
  uint8_t *buf = malloc(chunk);
  if (!buf) return fail("malloc", NULL);
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) { free(buf); return fail("open", path); }
  uint32_t st = seed_state(seed);
  int rc = 0;
  for (uint64_t off = 0; off < size && !rc;) {
    size_t n = size - off < chunk ? (size_t)(size - off) : chunk;
    gen_fill(buf, n, &st);
    ssize_t w = pwrite(fd, buf, n, (off_t)off);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) rc = fail("pwrite", path);
    else if ((size_t)w != n) { errno = EIO; rc = fail("short pwrite", path); }
    else off += n;
  }
  if (!rc && fsync(fd)) rc = fail("fsync", path);
  if (close(fd) && !rc) rc = fail("close", path);
  free(buf);
  return rc;
}

static int cmd_mmapwrite(const char *path, uint64_t size, const char *seed) {
  int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) return fail("open", path);
  int rc = 0;
  if (ftruncate(fd, (off_t)size)) rc = fail("ftruncate", path);
  if (!rc && size) {
    uint8_t *m = mmap(NULL, (size_t)size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (m == MAP_FAILED) rc = fail("mmap", path);
    else {
      uint32_t st = seed_state(seed);
      gen_fill(m, (size_t)size, &st);
      if (msync(m, (size_t)size, MS_SYNC)) rc = fail("msync", path);
      if (munmap(m, (size_t)size) && !rc) rc = fail("munmap", path);
    }
  }
  if (close(fd) && !rc) rc = fail("close", path);
  return rc;
}

static int cmd_mmapread(const char *path) {
  int fd = open(path, O_RDONLY);
  if (fd < 0) return fail("open", path);
  struct stat st;
  if (fstat(fd, &st)) { close(fd); return fail("fstat", path); }
  sha256_ctx c;
  sha256_init(&c);
  int rc = 0;
  if (st.st_size > 0) {
    uint8_t *m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (m == MAP_FAILED) rc = fail("mmap", path);
    else {
      sha256_update(&c, m, (size_t)st.st_size);
      munmap(m, (size_t)st.st_size);
    }
  }
  close(fd);
  if (rc) return rc;
  char hex[65];
  sha256_hex(&c, hex);
  printf("%s\n", hex);
  return 0;
}

static int cmd_sha256(const char *path) {
  int fd = open(path, O_RDONLY);
  if (fd < 0) return fail("open", path);
  char hex[65];
  int rc = hash_fd(fd, path, hex);
  close(fd);
  if (!rc) printf("%s\n", hex);
  return rc;
}

/* Recursive walk; `rel` is the path printed (relative to the scan root), `abs` the one opened. */
static int scan_dir(const char *abs, const char *rel) {
  DIR *d = opendir(abs);
  if (!d) return fail("opendir", abs);
  int rc = 0;
  struct dirent *e;
  errno = 0;
  while ((e = readdir(d))) {
    if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
    char *a = NULL, *r = NULL;
    if (asprintf(&a, "%s/%s", abs, e->d_name) < 0 || asprintf(&r, "%s%s%s", rel, *rel ? "/" : "", e->d_name) < 0) {
      free(a);
      closedir(d);
      return fail("asprintf", abs);
    }
    struct stat st;
    int err = lstat(a, &st) ? errno : 0;
    if (!err && S_ISDIR(st.st_mode)) {
      /* A virtio-fs submount is an automount point: lstat() does not trigger it (AT_NO_AUTOMOUNT
       * since Linux 4.14) and reports the parent's st_dev. Report what a process inside the
       * directory sees, as the host does for its (real) mount points: open it, then fstat. */
      int fd = open(a, O_RDONLY | O_DIRECTORY);
      if (fd < 0 || fstat(fd, &st)) err = errno;
      if (fd >= 0) close(fd);
    }
    if (err) {
      printf("ERR ");
      put_escaped(r);
      printf(" stat %d\n", err);
      rc = 1;
    } else {
      print_stat(r, &st);
      if (S_ISREG(st.st_mode)) {
        char hex[65] = "-";
        int fd = open(a, O_RDONLY);
        if (fd < 0 || hash_fd(fd, a, hex)) { strcpy(hex, "ERR"); rc = 1; }
        if (fd >= 0) close(fd);
        printf(" %s\n", hex);
      } else if (S_ISLNK(st.st_mode)) {
        char target[4096];
        ssize_t n = readlink(a, target, sizeof target - 1);
        if (n < 0) { strcpy(target, "ERR"); rc = 1; } else target[n] = 0;
        putchar(' ');
        put_escaped(target);
        putchar('\n');
      } else {
        printf(" -\n");
      }
      if (S_ISDIR(st.st_mode) && scan_dir(a, r)) rc = 1;
    }
    free(a);
    free(r);
    errno = 0;
  }
  if (errno) rc = fail("readdir", abs);
  closedir(d);
  return rc;
}

static int cmd_stat(int n, char **paths) {
  int rc = 0;
  for (int i = 0; i < n; i++) {
    struct stat st;
    if (lstat(paths[i], &st)) {
      put_escaped(paths[i]);
      printf(" ERR %d\n", errno);
      rc = 1;
      continue;
    }
    print_stat(paths[i], &st);
    putchar('\n');
  }
  return rc;
}

static int cmd_lock(int argc, char **argv) {
  if (argc != 6 || (strcmp(argv[2], "flock") && strcmp(argv[2], "posix"))) {
    fprintf(stderr, "usage: vfsd-probe lock flock|posix FILE SECONDS CHANNEL\n");
    return 2;
  }
  int fd = open(argv[3], O_RDWR | O_CREAT, 0644);
  if (fd < 0) return fail("open", argv[3]);
  if (!strcmp(argv[2], "flock")) {
    if (flock(fd, LOCK_EX | LOCK_NB)) return fail("flock", argv[3]);
  } else {
    struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 0};
    if (fcntl(fd, F_SETLK, &fl)) return fail("fcntl F_SETLK", argv[3]);
  }
  printf("VFSD-DATA %s held\n", argv[5]);
  fflush(stdout);
  sleep((unsigned)strtoul(argv[4], NULL, 0));
  if (close(fd)) return fail("close", argv[3]);
  return 0;
}

static int cmd_xattr(int argc, char **argv) {
  if (argc == 6 && !strcmp(argv[2], "set")) {
    if (lsetxattr(argv[3], argv[4], argv[5], strlen(argv[5]), 0))
      return fail("lsetxattr", argv[3]);
    return 0;
  }
  if (argc == 5 && !strcmp(argv[2], "get")) {
    char v[65536];
    ssize_t n = lgetxattr(argv[3], argv[4], v, sizeof v - 1);
    if (n < 0) return fail("lgetxattr", argv[3]);
    v[n] = 0;
    printf("%s\n", v);
    return 0;
  }
  if (argc == 4 && !strcmp(argv[2], "list")) {
    char v[65536];
    ssize_t n = llistxattr(argv[3], v, sizeof v);
    if (n < 0) return fail("llistxattr", argv[3]);
    for (ssize_t i = 0; i < n; i += (ssize_t)strlen(v + i) + 1) printf("%s\n", v + i);
    return 0;
  }
  if (argc == 5 && !strcmp(argv[2], "remove")) {
    if (lremovexattr(argv[3], argv[4])) return fail("lremovexattr", argv[3]);
    return 0;
  }
  fprintf(stderr, "usage: vfsd-probe xattr set FILE NAME VALUE | get FILE NAME | list FILE | remove FILE NAME\n");
  return 2;
}

/* One line straight to fd 1 (the console): no stdio buffer may hold a report back when the share
 * dies under us and the process hangs in the next request forever. */
static void report(const char *channel, const char *what, uint64_t n) {
  char line[160];
  int len = snprintf(line, sizeof line, "VFSD-DATA %s %s %" PRIu64 "\n", channel, what, n);
  if (len > 0 && write(1, line, (size_t)len) < 0) { /* the console is gone: nothing to tell */ }
}

static int cmd_blocks(const char *path, size_t size, uint64_t count, uint64_t every, const char *channel) {
  if (size < 64 || size % 4) { fprintf(stderr, "vfsd-probe: SIZE must be >= 64 and a multiple of 4\n"); return 2; }
  uint8_t *buf = malloc(size);
  if (!buf) return fail("malloc", NULL);
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) {
    report(channel, "error-open", (uint64_t)errno);
    free(buf);
    return fail("open", path);
  }
  int rc = 0;
  for (uint64_t i = 0; i < count && !rc; i++) {
    memset(buf, 0, 32);
    snprintf((char *)buf, 32, "VFSD-BLK %010" PRIu64 "\n", i);
    uint32_t st = (uint32_t)(i * 2654435761u + 1u);
    if (!st) st = 0x9e3779b9u;
    gen_fill(buf + 32, size - 32, &st);
    ssize_t w;
    do w = pwrite(fd, buf, size, (off_t)(i * size)); while (w < 0 && errno == EINTR);
    if (w != (ssize_t)size) {
      if (w >= 0) errno = EIO;
      report(channel, "error-write", (uint64_t)errno);
      rc = fail("pwrite", path);
    } else if (every == 0) {
      report(channel, "wrote", i + 1);
    } else if ((i + 1) % every == 0) {
      if (fsync(fd)) {
        report(channel, "error-fsync", (uint64_t)errno);
        rc = fail("fsync", path);
      } else {
        report(channel, "fsynced", i + 1);
      }
    }
  }
  if (!rc) report(channel, "complete", count);
  close(fd);
  free(buf);
  return rc;
}

int main(int argc, char **argv) {
  const char *c = argc > 1 ? argv[1] : "";
  if (!strcmp(c, "gen") && argc == 4) return cmd_gen(strtoull(argv[2], NULL, 0), argv[3]);
  if (!strcmp(c, "writegen") && argc == 6)
    return cmd_writegen(argv[2], strtoull(argv[3], NULL, 0), argv[4], (size_t)strtoull(argv[5], NULL, 0));
  if (!strcmp(c, "mmapwrite") && argc == 5) return cmd_mmapwrite(argv[2], strtoull(argv[3], NULL, 0), argv[4]);
  if (!strcmp(c, "mmapread") && argc == 3) return cmd_mmapread(argv[2]);
  if (!strcmp(c, "sha256") && argc == 3) return cmd_sha256(argv[2]);
  if (!strcmp(c, "scan") && argc == 3) {
    int rc = scan_dir(argv[2], "");
    fflush(stdout);
    return rc;
  }
  if (!strcmp(c, "stat") && argc >= 3) return cmd_stat(argc - 2, argv + 2);
  if (!strcmp(c, "statfs") && argc == 3) {
    struct statfs s;
    if (statfs(argv[2], &s)) return fail("statfs", argv[2]);
    printf("%lx %ld %lu\n", (unsigned long)s.f_type, (long)s.f_bsize, (unsigned long)s.f_blocks);
    return 0;
  }
  if (!strcmp(c, "xattr")) return cmd_xattr(argc, argv);
  if (!strcmp(c, "lock")) return cmd_lock(argc, argv);
  if (!strcmp(c, "blocks") && argc == 7)
    return cmd_blocks(argv[2], (size_t)strtoull(argv[3], NULL, 0), strtoull(argv[4], NULL, 0), strtoull(argv[5], NULL, 0), argv[6]);
  fprintf(stderr, "usage: vfsd-probe gen|writegen|mmapwrite|mmapread|sha256|scan|stat|statfs|xattr|lock|blocks ... (see source)\n");
  return 2;
}
