/* A deliberately slow source filesystem for `npm run bench`: every metadata request waits
 * DELAY_US before it is answered, as on a network filesystem or a cold disk, so a server that
 * exports it is measured on how many requests it keeps in flight at once, not on how fast it
 * runs one. Compiled at bench time against Debian's libfuse3 (low-level API).
 *
 *   slow-source MOUNTPOINT DIRS FILES DELAY_US
 *
 * The tree lives in memory and never changes: the root holds directories d0..d{DIRS-1}, each of
 * them regular files f0000000..f{FILES-1} (meta.c's names), all empty. LOOKUP, GETATTR, ACCESS,
 * OPENDIR, READDIR and OPEN sleep DELAY_US on the thread serving them; answers carry entry and
 * attribute timeouts of 0, so every stat(2) of a client reaches us again. The multithreaded
 * session loop gives each waiting request its own thread (up to MAX_THREADS), so the source
 * itself never serialises requests: with K requests in flight, K sleeps overlap. */
#define FUSE_USE_VERSION FUSE_MAKE_VERSION(3, 12)
#define _GNU_SOURCE
#include <fuse3/fuse_lowlevel.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define MAX_THREADS 256
#define IDLE_THREADS 64
#define MAX_DIRS 1024
#define MAX_FILES 10000000L /* f%07ld names stay 8 characters */

static long n_dirs;
static long n_files;
static struct timespec delay;
static time_t born;

/* Inode numbers: 1 the root, 2..n_dirs+1 the directories, then the files of d0, d1, ... */
#define ROOT_INO 1
static fuse_ino_t dir_ino(long d) { return 2 + (fuse_ino_t)d; }
static fuse_ino_t file_ino(long d, long f) { return 2 + (fuse_ino_t)n_dirs + (fuse_ino_t)d * (fuse_ino_t)n_files + (fuse_ino_t)f; }
static int is_dir(fuse_ino_t ino) { return ino >= 2 && ino < dir_ino(n_dirs); }
static int is_file(fuse_ino_t ino) { return ino >= dir_ino(n_dirs) && ino < file_ino(n_dirs, 0); }

/* The one thing this filesystem does slowly. A signal may cut the sleep short: finish it. */
static void slow(void) {
  struct timespec left = delay;
  while (nanosleep(&left, &left) != 0 && errno == EINTR) {}
}

/* Index encoded in NAME after PREFIX, if NAME is exactly the canonical spelling (no leading
 * zeros or signs that strtol would accept), below LIMIT; -1 otherwise. */
static long parse_index(const char *name, char prefix, const char *fmt, long limit) {
  if (name[0] != prefix || name[1] < '0' || name[1] > '9') return -1;
  char *end;
  errno = 0;
  long v = strtol(name + 1, &end, 10);
  if (errno || *end || v < 0 || v >= limit) return -1;
  char canon[32];
  snprintf(canon, sizeof canon, fmt, v);
  return strcmp(canon, name) == 0 ? v : -1;
}

static int attr_of(fuse_ino_t ino, struct stat *st) {
  memset(st, 0, sizeof *st);
  st->st_ino = ino;
  st->st_blksize = 4096;
  st->st_atime = st->st_mtime = st->st_ctime = born;
  if (ino == ROOT_INO) {
    st->st_mode = S_IFDIR | 0755;
    st->st_nlink = 2 + (nlink_t)n_dirs;
  } else if (is_dir(ino)) {
    st->st_mode = S_IFDIR | 0755;
    st->st_nlink = 2;
  } else if (is_file(ino)) {
    st->st_mode = S_IFREG | 0644;
    st->st_nlink = 1;
  } else {
    return ENOENT; /* a node id we never handed out */
  }
  return 0;
}

static void op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name) {
  slow();
  fuse_ino_t ino = 0;
  if (parent == ROOT_INO) {
    long d = parse_index(name, 'd', "d%ld", n_dirs);
    if (d >= 0) ino = dir_ino(d);
  } else if (is_dir(parent)) {
    long f = parse_index(name, 'f', "f%07ld", n_files);
    if (f >= 0) ino = file_ino((long)(parent - 2), f);
  } else if (!is_file(parent)) {
    fuse_reply_err(req, ENOENT);
    return;
  } else {
    fuse_reply_err(req, ENOTDIR);
    return;
  }
  if (ino == 0) {
    fuse_reply_err(req, ENOENT);
    return;
  }
  struct fuse_entry_param e;
  memset(&e, 0, sizeof e);
  e.ino = ino;
  e.generation = 1;
  e.entry_timeout = 0; /* every later stat asks again */
  e.attr_timeout = 0;
  attr_of(ino, &e.attr);
  fuse_reply_entry(req, &e);
}

static void op_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi) {
  (void)fi;
  slow();
  struct stat st;
  int err = attr_of(ino, &st);
  if (err) fuse_reply_err(req, err);
  else fuse_reply_attr(req, &st, 0);
}

static void op_access(fuse_req_t req, fuse_ino_t ino, int mask) {
  (void)mask;
  slow();
  struct stat st;
  fuse_reply_err(req, attr_of(ino, &st));
}

static void op_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi) {
  slow();
  if (ino != ROOT_INO && !is_dir(ino)) {
    fuse_reply_err(req, is_file(ino) ? ENOTDIR : ENOENT);
    return;
  }
  fuse_reply_open(req, fi);
}

/* Entry `i` of directory `ino`: ".", "..", then its children in order. 0 past the end. */
static int dirent_of(fuse_ino_t ino, long i, char *name, size_t len, struct stat *st) {
  long children = ino == ROOT_INO ? n_dirs : n_files;
  if (i >= children + 2) return 0;
  memset(st, 0, sizeof *st);
  if (i < 2) {
    snprintf(name, len, i == 0 ? "." : "..");
    st->st_ino = i == 0 ? ino : ROOT_INO;
    st->st_mode = S_IFDIR;
  } else if (ino == ROOT_INO) {
    snprintf(name, len, "d%ld", i - 2);
    st->st_ino = dir_ino(i - 2);
    st->st_mode = S_IFDIR;
  } else {
    snprintf(name, len, "f%07ld", i - 2);
    st->st_ino = file_ino((long)(ino - 2), i - 2);
    st->st_mode = S_IFREG;
  }
  return 1;
}

static void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi) {
  (void)fi;
  slow();
  if (ino != ROOT_INO && !is_dir(ino)) {
    fuse_reply_err(req, ENOTDIR);
    return;
  }
  char *buf = malloc(size ? size : 1);
  if (!buf) {
    fuse_reply_err(req, ENOMEM);
    return;
  }
  size_t used = 0;
  char name[32];
  struct stat st;
  /* The offset handed to the kernel with each entry is where the next listing starts. */
  for (long i = off < 0 ? 0 : (long)off; dirent_of(ino, i, name, sizeof name, &st); i++) {
    size_t need = fuse_add_direntry(req, buf + used, size - used, name, &st, i + 1);
    if (need > size - used) break; /* does not fit: the next READDIR starts here */
    used += need;
  }
  fuse_reply_buf(req, buf, used);
  free(buf);
}

static void op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi) {
  slow();
  if (!is_file(ino)) {
    fuse_reply_err(req, is_dir(ino) || ino == ROOT_INO ? EISDIR : ENOENT);
    return;
  }
  if ((fi->flags & O_ACCMODE) != O_RDONLY) {
    fuse_reply_err(req, EROFS);
    return;
  }
  fuse_reply_open(req, fi);
}

/* Every file is empty. */
static void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi) {
  (void)ino; (void)size; (void)off; (void)fi;
  fuse_reply_buf(req, NULL, 0);
}

static void op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup) {
  (void)ino; (void)nlookup;
  fuse_reply_none(req); /* nothing is held per lookup: the tree is fixed */
}

static void op_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *forgets) {
  (void)count; (void)forgets;
  fuse_reply_none(req);
}

static const struct fuse_lowlevel_ops ops = {
  .lookup = op_lookup,
  .forget = op_forget,
  .forget_multi = op_forget_multi,
  .getattr = op_getattr,
  .access = op_access,
  .opendir = op_opendir,
  .readdir = op_readdir,
  .open = op_open,
  .read = op_read,
};

static long arg(const char *s, const char *what, long min, long max) {
  char *end;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (errno || *end || end == s || v < min || v > max) {
    fprintf(stderr, "slow-source: %s must be an integer in [%ld, %ld], got '%s'\n", what, min, max, s);
    exit(2);
  }
  return v;
}

int main(int argc, char **argv) {
  if (argc != 5) {
    fprintf(stderr, "usage: slow-source MOUNTPOINT DIRS FILES DELAY_US\n");
    return 2;
  }
  n_dirs = arg(argv[2], "DIRS", 1, MAX_DIRS);
  n_files = arg(argv[3], "FILES", 1, MAX_FILES);
  long us = arg(argv[4], "DELAY_US", 0, 10000000L);
  delay.tv_sec = us / 1000000;
  delay.tv_nsec = (us % 1000000) * 1000;
  born = time(NULL);

  /* allow_other: the server under test may check access as the client's uid. */
  char *fargv[] = { argv[0], "-o", "allow_other,fsname=vfsd-slow-source,subtype=slow", NULL };
  struct fuse_args args = FUSE_ARGS_INIT(3, fargv);
  struct fuse_session *se = fuse_session_new(&args, &ops, sizeof ops, NULL);
  if (!se) {
    fprintf(stderr, "slow-source: fuse_session_new failed\n");
    return 1;
  }
  int rc = 1;
  if (fuse_set_signal_handlers(se) != 0) {
    fprintf(stderr, "slow-source: cannot install signal handlers\n");
  } else {
    if (fuse_session_mount(se, argv[1]) != 0) {
      fprintf(stderr, "slow-source: cannot mount on %s\n", argv[1]);
    } else {
      struct fuse_loop_config *cfg = fuse_loop_cfg_create();
      if (!cfg) {
        fprintf(stderr, "slow-source: out of memory\n");
      } else {
        fuse_loop_cfg_set_max_threads(cfg, MAX_THREADS);
        fuse_loop_cfg_set_idle_threads(cfg, IDLE_THREADS);
        /* Negative: a read of /dev/fuse failed; 0 or a signal number: unmounted or told to stop. */
        rc = fuse_session_loop_mt(se, cfg) < 0 ? 1 : 0;
        fuse_loop_cfg_destroy(cfg);
      }
      fuse_session_unmount(se);
    }
    fuse_remove_signal_handlers(se);
  }
  fuse_session_destroy(se);
  return rc;
}
