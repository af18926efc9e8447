/* Data driver for the guest rows of `npm run bench`: psync I/O in tight loops, the same pattern
 * as the fio rows on /dev/fuse (ioengine=psync, buffered). Debian's fio links 60-odd shared
 * libraries (ceph, gluster, rdma, ...), too many to carry into the busybox guest, so this small
 * driver is compiled with `gcc -static` at bench time and shipped in the guest's initramfs.
 *
 *   io seqwrite  FILE MIB BS          create/truncate FILE, write MIB MiB in BS-byte blocks, fsync
 *   io seqread   FILE BS              read FILE to the end in BS-byte blocks
 *   io randread  FILE BS SECONDS SEED pread each BS block of FILE at most once, in a random
 *                                     order, until all are read or SECONDS have passed
 *   io syncwrite FILE BS START END    from CLOCK_MONOTONIC time START (ns; sleeps until then)
 *                                     to END: write BS bytes + fsync, again and again, over the
 *                                     first SYNC_SPAN bytes of FILE (the /dev/fuse head-of-line
 *                                     rows' writer; also built with plain cc for the host)
 *
 * Prints one JSON line: {"op":..,"ops":calls,"bytes":moved,"ns":elapsed}. A failed or short call
 * is an error on stderr and exit status 1: a row must never time a loop of errors. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static long long now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int die(const char *what, const char *file) {
  fprintf(stderr, "io %s %s: %s\n", what, file, errno ? strerror(errno) : "short transfer");
  return 1;
}

static uint64_t xorshift(uint64_t *s) {
  uint64_t x = *s;
  x ^= x << 13;
  x ^= x >> 7;
  x ^= x << 17;
  return *s = x;
}

static long parse(const char *s, long min) {
  char *end;
  long v = strtol(s, &end, 10);
  if (*s == 0 || *end != 0 || v < min) {
    fprintf(stderr, "io: bad number %s\n", s);
    exit(2);
  }
  return v;
}

static void report(const char *op, long long ops, long long bytes, long long ns) {
  printf("{\"op\":\"%s\",\"ops\":%lld,\"bytes\":%lld,\"ns\":%lld}\n", op, ops, bytes, ns);
}

/* A BS-byte buffer of incompressible, non-zero bytes, so nothing on the way can take a shortcut. */
static char *filled(long bs) {
  char *buf = malloc(bs);
  if (!buf) return NULL;
  uint64_t s = 0x9e3779b97f4a7c15ULL;
  for (long i = 0; i + 8 <= bs; i += 8) {
    uint64_t v = xorshift(&s);
    memcpy(buf + i, &v, 8);
  }
  return buf;
}

static int seqwrite(const char *file, long mib, long bs) {
  char *buf = filled(bs);
  if (!buf) return die("malloc", file);
  long long total = (long long)mib * 1048576, done = 0, ops = 0;
  long long t0 = now_ns();
  int fd = open(file, O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0644);
  if (fd < 0) return die("open", file);
  while (done < total) {
    size_t want = total - done < bs ? (size_t)(total - done) : (size_t)bs;
    errno = 0;
    ssize_t n = write(fd, buf, want);
    if (n != (ssize_t)want) return die("write", file);
    done += n;
    ops++;
  }
  if (fsync(fd) != 0) return die("fsync", file);
  if (close(fd) != 0) return die("close", file);
  report("seqwrite", ops, done, now_ns() - t0);
  free(buf);
  return 0;
}

static int seqread(const char *file, long bs) {
  char *buf = malloc(bs);
  if (!buf) return die("malloc", file);
  long long done = 0, ops = 0;
  long long t0 = now_ns();
  int fd = open(file, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return die("open", file);
  for (;;) {
    ssize_t n = read(fd, buf, bs);
    if (n < 0) return die("read", file);
    if (n == 0) break;
    done += n;
    ops++;
  }
  if (close(fd) != 0) return die("close", file);
  if (done == 0) return die("read (empty file)", file);
  report("seqread", ops, done, now_ns() - t0);
  free(buf);
  return 0;
}

static int randread(const char *file, long bs, long seconds, long seed) {
  char *buf = malloc(bs);
  if (!buf) return die("malloc", file);
  int fd = open(file, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return die("open", file);
  struct stat st;
  if (fstat(fd, &st) != 0) return die("fstat", file);
  long blocks = st.st_size / bs;
  if (blocks == 0) return die("randread (file smaller than one block)", file);
  /* A permutation of the block numbers (Fisher-Yates): each block is read at most once, so the
   * guest's page cache never serves a repeat and every read reaches the server. */
  uint32_t *order = malloc(sizeof *order * blocks);
  if (!order) return die("malloc", file);
  for (long i = 0; i < blocks; i++) order[i] = (uint32_t)i;
  uint64_t s = (uint64_t)seed * 0x9e3779b97f4a7c15ULL + 1;
  for (long i = blocks - 1; i > 0; i--) {
    long j = (long)(xorshift(&s) % (uint64_t)(i + 1));
    uint32_t t = order[i];
    order[i] = order[j];
    order[j] = t;
  }
  long long cap = (long long)seconds * 1000000000LL;
  long long ops = 0, done = 0;
  long long t0 = now_ns(), elapsed = 0;
  for (long i = 0; i < blocks; i++) {
    errno = 0;
    ssize_t n = pread(fd, buf, bs, (off_t)order[i] * bs);
    if (n != bs) return die("pread", file);
    done += n;
    ops++;
    if ((ops & 63) == 0 && (elapsed = now_ns() - t0) >= cap) break;
  }
  elapsed = now_ns() - t0;
  close(fd);
  report("randread", ops, done, elapsed);
  free(order);
  free(buf);
  return 0;
}

#define SYNC_SPAN (64LL * 1048576)

static int syncwrite(const char *file, long bs, long long start, long long end) {
  if (end <= start || bs > SYNC_SPAN) {
    fprintf(stderr, "io syncwrite: needs START < END and BS <= %lld\n", SYNC_SPAN);
    return 2;
  }
  char *buf = filled(bs);
  if (!buf) return die("malloc", file);
  int fd = open(file, O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
  if (fd < 0) return die("open", file);
  if (start > now_ns()) {
    struct timespec at = { start / 1000000000LL, start % 1000000000LL };
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &at, NULL) == EINTR) {}
  }
  long long ops = 0, done = 0, off = 0;
  long long t0 = now_ns();
  while (now_ns() < end) {
    errno = 0;
    if (pwrite(fd, buf, bs, off) != bs) return die("pwrite", file);
    if (fsync(fd) != 0) return die("fsync", file);
    done += bs;
    ops++;
    off = off + 2 * bs > SYNC_SPAN ? 0 : off + bs;
  }
  long long ns = now_ns() - t0;
  if (close(fd) != 0) return die("close", file);
  report("syncwrite", ops, done, ns);
  free(buf);
  return 0;
}

int main(int argc, char **argv) {
  const char *op = argc > 1 ? argv[1] : "";
  if (strcmp(op, "seqwrite") == 0 && argc == 5) return seqwrite(argv[2], parse(argv[3], 1), parse(argv[4], 1));
  if (strcmp(op, "seqread") == 0 && argc == 4) return seqread(argv[2], parse(argv[3], 1));
  if (strcmp(op, "randread") == 0 && argc == 6)
    return randread(argv[2], parse(argv[3], 1), parse(argv[4], 1), parse(argv[5], 0));
  if (strcmp(op, "syncwrite") == 0 && argc == 6)
    return syncwrite(argv[2], parse(argv[3], 1), strtoll(argv[4], NULL, 10), strtoll(argv[5], NULL, 10));
  fprintf(stderr, "usage: io seqwrite FILE MIB BS | seqread FILE BS | randread FILE BS SECONDS SEED | syncwrite FILE BS START_NS END_NS\n");
  return 2;
}
