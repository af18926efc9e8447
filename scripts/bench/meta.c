/* Metadata driver for `npm run bench`: tight syscall loops at C speed, so the client is never
 * what limits a FUSE server. Compiled at bench time (cc -O2) into a temp dir.
 *
 *   meta create   DIR N        openat(O_CREAT|O_EXCL|O_WRONLY) + close of f0000000..f{N-1}
 *   meta stat     DIR N        fstatat of f0..f{N-1}          (names relative to DIR's fd)
 *   meta stat     DIR N START END   the same names over and over, from CLOCK_MONOTONIC time
 *                             START (ns; sleeps until then) to END: several clients started
 *                             with one window run at the same time (node's hrtime is this clock)
 *   meta openclose DIR N       openat(O_RDONLY) + close of f0000000, N times
 *   meta readdir  DIR R        open + getdents64 to the end + close, R times
 *   meta unlink   DIR N        unlinkat of f0..f{N-1}
 *
 * Every name is relative to an fd on DIR so the loop never re-walks DIR's own path (with
 * --cache never that walk would add a LOOKUP of each parent per call and blur the row).
 * Prints one JSON line: {"op":..,"n":ops,"ns":elapsed,"entries":..,"t0":start}. Any failed call is
 * an error on stderr and exit status 1: a row must never time a loop of errors. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static long long now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void name_of(char *buf, size_t len, long i) { snprintf(buf, len, "f%07ld", i); }

static int die(const char *op, const char *name) {
  fprintf(stderr, "meta %s %s: %s\n", op, name, strerror(errno));
  return 1;
}

int main(int argc, char **argv) {
  const char *op = argc > 1 ? argv[1] : "";
  int windowed = argc == 6 && strcmp(op, "stat") == 0;
  if (argc != 4 && !windowed) {
    fprintf(stderr, "usage: meta create|stat|openclose|readdir|unlink DIR N | meta stat DIR N START_NS END_NS\n");
    return 2;
  }
  long n = strtol(argv[3], NULL, 10);
  if (n <= 0) {
    fprintf(stderr, "meta: N must be positive\n");
    return 2;
  }
  long long start = windowed ? strtoll(argv[4], NULL, 10) : 0;
  long long end = windowed ? strtoll(argv[5], NULL, 10) : 0;
  if (windowed && (start <= 0 || end <= start)) {
    fprintf(stderr, "meta: the window needs 0 < START_NS < END_NS\n");
    return 2;
  }
  int dfd = open(argv[2], O_RDONLY | O_DIRECTORY);
  if (dfd < 0) return die("open", argv[2]);

  char name[32];
  long long entries = 0;
  if (windowed && start > now_ns()) {
    struct timespec at = { start / 1000000000LL, start % 1000000000LL };
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &at, NULL) == EINTR) {}
  }
  long long t0 = now_ns();
  if (windowed) {
    struct stat st;
    long done = 0;
    for (long i = 0; now_ns() < end; i = i + 1 == n ? 0 : i + 1, done++) {
      name_of(name, sizeof name, i);
      if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0) return die(op, name);
    }
    n = done;
  } else if (strcmp(op, "create") == 0) {
    for (long i = 0; i < n; i++) {
      name_of(name, sizeof name, i);
      int fd = openat(dfd, name, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0644);
      if (fd < 0) return die(op, name);
      if (close(fd) != 0) return die("close", name);
    }
  } else if (strcmp(op, "stat") == 0) {
    struct stat st;
    for (long i = 0; i < n; i++) {
      name_of(name, sizeof name, i);
      if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0) return die(op, name);
    }
  } else if (strcmp(op, "openclose") == 0) {
    name_of(name, sizeof name, 0);
    for (long i = 0; i < n; i++) {
      int fd = openat(dfd, name, O_RDONLY | O_CLOEXEC);
      if (fd < 0) return die(op, name);
      if (close(fd) != 0) return die("close", name);
    }
  } else if (strcmp(op, "readdir") == 0) {
    static char buf[64 * 1024];
    for (long r = 0; r < n; r++) {
      int fd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
      if (fd < 0) return die(op, ".");
      for (;;) {
        long got = syscall(SYS_getdents64, fd, buf, sizeof buf);
        if (got < 0) return die("getdents64", argv[2]);
        if (got == 0) break;
        for (long off = 0; off < got;) {
          struct dirent64 *d = (struct dirent64 *)(buf + off);
          entries++;
          off += d->d_reclen;
        }
      }
      if (close(fd) != 0) return die("close", ".");
    }
  } else if (strcmp(op, "unlink") == 0) {
    for (long i = 0; i < n; i++) {
      name_of(name, sizeof name, i);
      if (unlinkat(dfd, name, 0) != 0) return die(op, name);
    }
  } else {
    fprintf(stderr, "meta: unknown op %s\n", op);
    return 2;
  }
  long long ns = now_ns() - t0;
  close(dfd);
  printf("{\"op\":\"%s\",\"n\":%ld,\"ns\":%lld,\"entries\":%lld,\"t0\":%lld}\n", op, n, ns, entries, t0);
  return 0;
}
