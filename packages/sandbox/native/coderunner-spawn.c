/*
 * coderunner-spawn: starts the sandbox's host processes for the worker.
 *
 * The worker is a large Node process: every fork of it copies its page tables and then takes a
 * copy-on-write fault for each page it touches until the child has exec'd, a few milliseconds of
 * CPU per run. This helper is small, so its forks are cheap, and it does in the child what
 * otherwise took two more programs (a shell and setpriv): it joins the run's cgroups, sets the
 * core and stack limits, drops to the slot's uid with no capabilities and no_new_privs, then
 * execs bubblewrap. A sandbox made ahead is made from a base sandbox that bubblewrap started
 * once, which saves most of bubblewrap's cost, by the stub next to this program (coderunner-stub
 * enter, see enter_main there), exec'd from the child of a vfork: neither this process's memory
 * nor its page tables are copied for the sandbox's processes.
 *
 * Protocol. Requests on standard input, each `u32 length (little endian)` then NUL-terminated
 * fields:
 *   S id cwd uid stack net enter nfds nprocs procs... argc argv... envc env...   start a process
 *       uid: "" keeps this helper's ids; stack: KiB or "unlimited"; net: "" keeps this helper's
 *       network namespace, a name enters the empty one of that name (made on first use, kept
 *       while the helper lives, its loopback left down); enter: "" execs on the host, or
 *       `pid:startTime:hostUid:workBytes:tmpBytes` to start the program in a fresh sandbox made
 *       from the namespaces of a running one (see enter_main in the stub; uid is then the uid
 *       inside it, startTime field 22 of the running one's /proc/<pid>/stat; argc 0: the stub
 *       itself is the program, waiting for its run on fd 4; net is not used); nfds: 3
 *       (standard streams), 4 (+ a pipe the child writes on fd 3) or 5 (+ a pipe the child
 *       reads on fd 4).
 *   H id ndirs dirs... <the fields of S after its id>                 hold a sandbox made ahead
 *       as S with nfds 5 and `enter`, but the pipes stay here: the helper makes the directories
 *       first (the cgroup the process joins) and removes them once it has ended, and runs it with
 *       R. Its fd 3 is its standard output: the first line there tells its first process's pid,
 *       and a run asked for before that waits.
 *   R id wallMs cpuMs cpuFile cpuKind outLimit errLimit errKill nwrites (path value)...
 *     nusage usage... nafter (path value)... nparts part... inLen, then the parts' bytes and
 *     inLen bytes   run a held one
 *       writes each value to its (cgroup) file, notes the CPU time in cpuFile (cpuKind `n`: the
 *       file is nanoseconds; `u`: its `usage_usec` line), writes the parts to fd 4 (`b<len>`:
 *       that many bytes of the request; `f<len> <path>`: that many of a host file, sent from the
 *       file) and the input to fd 0, closing each after, and collects fds 1 and 2 up to their
 *       limits. It kills the sandbox when the wall-clock time passes wallMs, the CPU time passes
 *       cpuMs ("" for none; polled), standard output passes outLimit bytes or standard error
 *       errLimit (errKill 1; else only its first bytes are kept), a file cannot be read to its
 *       length (killed: files), or at C. Once the process has ended and its output is read, the
 *       usage files are read, the directories removed, and R answers; then the after values are
 *       written (also when a write failed and the run was refused).
 *   C id                                                             cancel a held one's run
 *   K id signal                                                      signal it, unless reaped
 *   D id                                                             the worker holds the pipes
 * Replies on standard output, one line each (R's followed by bytes):
 *   S id pid fd...   forked: the worker's ends of the pipes, to open via /proc/<helper>/fd/N
 *                    (its copies here are closed at D)
 *   F id errno       could not start: fork failed (nothing follows) or exec failed (X follows)
 *   X id code signal ended (code -1 when killed by a signal); for a held one, before any R
 *   E id errno       a held one cannot run: it has ended (or ends before it is ready), or a
 *                    file could not be written (it is then killed); X follows its end
 *   R id code signal wallUs cpuNs killed outTotal errTotal outLen errLen nusage len...
 *                    a held one's run ended (killed: - wall cpu output cancelled files); then the
 *                    kept output, the kept error and each usage file's text, of those lengths
 * A child that cannot join its cgroups, enter its network namespace or drop its privileges
 * writes `coderunner: cannot ...` on
 * its standard error and exits with status 125. The helper exits, killing what it started, when
 * its standard input closes or its parent dies.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <malloc.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sched.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/sendfile.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif
#ifndef SYS_close_range
#define SYS_close_range 436
#endif

#define JOIN_FAILED_EXIT 125
#define MAX_FRAME (16 * 1024 * 1024)
#define MAX_FDS 5
/* A sandbox's descriptors, by number. */
enum { FD_IN, FD_OUT, FD_ERR, FD_STATUS, FD_CONTROL };

struct run;

struct child {
  char id[32];
  pid_t pid;           /* 0 once reaped */
  int held[MAX_FDS];   /* the worker's ends, until D */
  int nheld;
  int errfd;           /* tells an exec failure; -1 once the child exec'd or failed */
  /* A sandbox held here (H): its pipes stay with the helper, which runs it (R). */
  int kept;
  int fd[MAX_FDS];     /* stdin, stdout, stderr, status, control; -1 once closed */
  pid_t inner;         /* its first process, once told on the status pipe */
  char status[128];
  size_t status_len;
  char **dirs;         /* removed once it has ended (its cgroup) */
  int ndirs;
  int code, signal;    /* how it ended, once reaped */
  struct run *run;
};

static struct child *children;
static size_t nchildren, capchildren;
static int last_cap = 40;

static void die(const char *what) {
  fprintf(stderr, "coderunner-spawn: %s: %s\n", what, strerror(errno));
  exit(1);
}

/* The empty network namespaces made so far, by name, and the helper's own. */
struct netns {
  char name[32];
  int fd;
};
static struct netns *netnses;
static size_t nnetns;
static int own_net = -1;

/* The namespace of that name, made now if need be; -1 with errno when it cannot be. */
static int netns_fd(const char *name) {
  for (size_t i = 0; i < nnetns; i++)
    if (strcmp(netnses[i].name, name) == 0) return netnses[i].fd;
  if (strlen(name) >= sizeof netnses->name) {
    errno = ENAMETOOLONG;
    return -1;
  }
  if (own_net < 0) own_net = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
  if (own_net < 0 || unshare(CLONE_NEWNET) != 0) return -1;
  int fd = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
  int error = errno;
  if (setns(own_net, CLONE_NEWNET) != 0) die("setns back to its own network namespace");
  if (fd < 0) {
    errno = error;
    return -1;
  }
  struct netns *grown = realloc(netnses, (nnetns + 1) * sizeof *netnses);
  if (!grown) die("realloc");
  netnses = grown;
  snprintf(netnses[nnetns].name, sizeof netnses->name, "%s", name);
  netnses[nnetns++].fd = fd;
  return fd;
}

/* Writes every buffer in order, in as few system calls as the pipe takes. */
static void writev_all(int fd, struct iovec *iov, int count) {
  while (count > 0) {
    ssize_t n = writev(fd, iov, count);
    if (n < 0) {
      if (errno == EINTR) continue;
      die("write");
    }
    for (; count > 0 && (size_t)n >= iov->iov_len; iov++, count--) n -= (ssize_t)iov->iov_len;
    if (count > 0) {
      iov->iov_base = (char *)iov->iov_base + n;
      iov->iov_len -= (size_t)n;
    }
  }
}

static void write_all(int fd, const char *buf, size_t len) {
  struct iovec iov = {(void *)buf, len};
  writev_all(fd, &iov, 1);
}

static void reply(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void reply(const char *fmt, ...) {
  char line[256];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(line, sizeof line, fmt, ap);
  va_end(ap);
  if (n < 0 || (size_t)n >= sizeof line) n = (int)sizeof line - 1;
  write_all(STDOUT_FILENO, line, (size_t)n);
}

static struct child *find(const char *id) {
  for (size_t i = 0; i < nchildren; i++)
    if (strcmp(children[i].id, id) == 0) return &children[i];
  return NULL;
}

static void release(struct child *c) {
  for (int i = 0; i < c->nheld; i++) close(c->held[i]);
  c->nheld = 0;
}

/* Forgets a child once it is reaped and the worker holds its pipes. */
static void forget(struct child *c) {
  if (c->pid != 0 || c->nheld != 0 || c->errfd >= 0 || c->kept) return;
  *c = children[--nchildren];
}

/* Child side: a message on standard error, then the status the worker recognises. */
static void fail_child(const char *what, const char *detail) {
  char msg[512];
  int n = snprintf(msg, sizeof msg, "coderunner: cannot %s%s: %s\n", what, detail, strerror(errno));
  if (n > 0) (void)!write(STDERR_FILENO, msg, (size_t)n < sizeof msg ? (size_t)n : sizeof msg - 1);
  _exit(JOIN_FAILED_EXIT);
}

static void drop_privileges(uid_t uid) {
  for (int cap = 0; cap <= last_cap; cap++)
    if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 && errno != EINVAL) fail_child("drop privileges", "");
  if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0 && errno != EINVAL)
    fail_child("drop privileges", "");
  if (setgroups(0, NULL) != 0 || setresgid(uid, uid, uid) != 0 || setresuid(uid, uid, uid) != 0)
    fail_child("drop privileges", "");
  struct __user_cap_header_struct header = {_LINUX_CAPABILITY_VERSION_3, 0};
  struct __user_cap_data_struct data[2];
  memset(data, 0, sizeof data);
  if (syscall(SYS_capset, &header, data) != 0) fail_child("drop privileges", "");
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) fail_child("drop privileges", "");
  uid_t r, e, s;
  if (getresuid(&r, &e, &s) != 0 || r != uid || e != uid || s != uid) fail_child("drop privileges", "");
}

struct request {
  const char *id, *cwd, *uid, *stack, *net, *enter;
  int netfd, neterr; /* the namespace to enter, or why it cannot be */
  int nfds;
  char **procs;
  int nprocs;
  char **argv;
  char **envp;
};

/*
 * Marks every descriptor from `first` on close-on-exec, so that the program gets only the ones
 * it was given: whatever this helper inherited from the worker's own parent (a supervisor's
 * pipe, say) must not reach a sandbox. `errfd` stays usable until the exec.
 */
static void cloexec_from(int first) {
  if (syscall(SYS_close_range, (unsigned)first, ~0U, CLOSE_RANGE_CLOEXEC) == 0) return;
  /* Kernels before 5.11: walk the open descriptors instead. */
  DIR *dir = opendir("/proc/self/fd");
  if (!dir) _exit(127);
  for (struct dirent *entry; (entry = readdir(dir)) != NULL;) {
    int fd = atoi(entry->d_name);
    if (fd >= first && fd != dirfd(dir)) fcntl(fd, F_SETFD, FD_CLOEXEC);
  }
  closedir(dir);
}

/*
 * Child side, before its exec: signals as a program expects them, and `ends[i]` as fd i; -1 with
 * errno when they cannot be. System calls only (no allocation): the child of a vfork runs it in
 * this process's memory.
 */
static int take_ends(const struct request *req, const int *ends) {
  sigset_t all;
  sigemptyset(&all);
  sigprocmask(SIG_SETMASK, &all, NULL);
  signal(SIGPIPE, SIG_DFL);
  int moved[MAX_FDS];
  for (int i = 0; i < req->nfds; i++) {
    moved[i] = fcntl(ends[i], F_DUPFD_CLOEXEC, 16);
    if (moved[i] < 0) return -1;
  }
  for (int i = 0; i < req->nfds; i++)
    if (dup2(moved[i], i) < 0) return -1;
  return 0;
}

/* The stub, next to this program: it makes the sandboxes entered (enter_main there). */
static char stub_path[4096];

/*
 * The stub's arguments for a sandbox entered (see enter_main in coderunner-stub.c): it is exec'd
 * from the child of a vfork, so that this process's memory is neither copied nor shared with the
 * sandbox's first processes (copying it took about a quarter of this helper's CPU per run).
 */
static char **enter_args(const struct request *req, char *nprocs, size_t size) {
  int argc = 0;
  while (req->argv[argc]) argc++;
  char **args = calloc((size_t)(8 + req->nprocs + argc), sizeof *args);
  if (!args) die("calloc");
  snprintf(nprocs, size, "%d", req->nprocs);
  /* Its command line is pid 1's in the sandbox: no path of the host's. */
  const char *head[] = {"coderunner-stub", "enter", req->enter, req->uid, req->cwd, req->stack, nprocs};
  int n = 0;
  for (size_t i = 0; i < sizeof head / sizeof *head; i++) args[n++] = (char *)head[i];
  for (int i = 0; i < req->nprocs; i++) args[n++] = req->procs[i];
  for (int i = 0; i < argc; i++) args[n++] = req->argv[i];
  return args;
}

/* Why the child of the last vfork could not exec: it shares this memory until then. */
static volatile int enter_error;

/* Runs in the child of a vfork: never returns. */
static void enter_child(const struct request *req, const int *ends, char **args) {
  if (take_ends(req, ends) == 0) execve(stub_path, args, req->envp);
  enter_error = errno;
  _exit(127);
}

/*
 * Starts the stub that makes a sandbox entered; its pid, or -1 with errno. `*exec_error`: why
 * the stub could not be exec'd, 0 once it was (this process waits until then: no pipe tells it).
 */
static pid_t start_entered(const struct request *req, const int *ends, int *exec_error) {
  char nprocs[16];
  char **args = enter_args(req, nprocs, sizeof nprocs);
  enter_error = 0;
  pid_t pid = vfork();
  if (pid == 0) enter_child(req, ends, args);
  int error = errno;
  *exec_error = enter_error;
  free(args);
  errno = error;
  return pid;
}

/* Runs in the child: never returns. `ends[i]` becomes fd i; `errfd` reports an exec failure. */
static void child_main(const struct request *req, const int *ends, int errfd) {
  if (take_ends(req, ends) != 0) _exit(127);
  cloexec_from(req->nfds);

  char pid[24];
  int len = snprintf(pid, sizeof pid, "%d\n", (int)getpid());
  for (int i = 0; i < req->nprocs; i++) {
    int fd = open(req->procs[i], O_WRONLY | O_CLOEXEC);
    if (fd < 0 || write(fd, pid, (size_t)len) != len) fail_child("join ", req->procs[i]);
    close(fd);
  }
  if (req->net[0] != '\0') {
    errno = req->neterr;
    if (req->netfd < 0 || setns(req->netfd, CLONE_NEWNET) != 0) fail_child("enter the network namespace ", req->net);
  }
  struct rlimit none = {0, 0};
  setrlimit(RLIMIT_CORE, &none);
  struct rlimit stack = {RLIM_INFINITY, RLIM_INFINITY};
  if (strcmp(req->stack, "unlimited") != 0) stack.rlim_cur = stack.rlim_max = strtoull(req->stack, NULL, 10) * 1024;
  setrlimit(RLIMIT_STACK, &stack);
  if (req->uid[0] != '\0') drop_privileges((uid_t)strtoul(req->uid, NULL, 10));
  if (chdir(req->cwd) != 0) fail_child("enter ", req->cwd);

  execve(req->argv[0], req->argv, req->envp);
  int error = errno;
  (void)!write(errfd, &error, sizeof error);
  _exit(127);
}

/* 0 once started (a held one then owns `dirs`); -1 when it could not be (F said so). */
static int start(const struct request *req, int kept, char **dirs, int ndirs) {
  /* theirs[i]: the child's end of fd i; mine[i]: the worker's end (or this helper's, kept). */
  int theirs[MAX_FDS], mine[MAX_FDS], errpipe[2] = {-1, -1};
  int made = 0, error = 0, exec_error = 0;
  int entered = req->enter[0] != '\0';
  for (; made < req->nfds; made++) {
    /* A held one tells its status on its standard output, before any program runs there. */
    if (kept && made == FD_STATUS) {
      theirs[made] = theirs[FD_OUT];
      mine[made] = -1;
      continue;
    }
    int p[2];
    if (pipe2(p, O_CLOEXEC) != 0) {
      error = errno;
      break;
    }
    /* The child reads fds 0 and 4 and writes the others. */
    int child_reads = made == 0 || made == 4;
    theirs[made] = child_reads ? p[0] : p[1];
    mine[made] = child_reads ? p[1] : p[0];
  }
  if (error == 0 && !entered && pipe2(errpipe, O_CLOEXEC | O_NONBLOCK) != 0) error = errno;
  pid_t pid = -1;
  if (error == 0 && entered) {
    pid = start_entered(req, theirs, &exec_error);
    if (pid < 0) error = errno;
  } else if (error == 0) {
    pid = fork();
    if (pid == 0) child_main(req, theirs, errpipe[1]);
    if (pid < 0) error = errno;
  }
  for (int i = 0; i < made; i++)
    if (mine[i] >= 0) close(theirs[i]);
  if (errpipe[1] >= 0) close(errpipe[1]);
  if (error != 0) {
    for (int i = 0; i < made; i++)
      if (mine[i] >= 0) close(mine[i]);
    if (errpipe[0] >= 0) close(errpipe[0]);
    reply("F %s %d\n", req->id, error);
    return -1;
  }
  if (nchildren == capchildren) {
    capchildren = capchildren ? capchildren * 2 : 16;
    children = realloc(children, capchildren * sizeof *children);
    if (!children) die("realloc");
  }
  struct child *c = &children[nchildren++];
  memset(c, 0, sizeof *c);
  snprintf(c->id, sizeof c->id, "%s", req->id);
  c->pid = pid;
  c->errfd = errpipe[0];
  if (kept) {
    c->kept = 1;
    for (int i = 0; i < MAX_FDS; i++) {
      c->fd[i] = mine[i];
      if (mine[i] >= 0) fcntl(mine[i], F_SETFL, O_NONBLOCK);
    }
    c->dirs = dirs;
    c->ndirs = ndirs;
  } else {
    c->nheld = req->nfds;
    memcpy(c->held, mine, sizeof mine);
    char line[256];
    int n = snprintf(line, sizeof line, "S %s %d", req->id, (int)pid);
    for (int i = 0; i < req->nfds; i++) n += snprintf(line + n, sizeof line - (size_t)n, " %d", mine[i]);
    reply("%s\n", line);
  }
  /* The stub could not be exec'd: its child has ended (X follows once it is reaped). */
  if (exec_error != 0) reply("F %s %d\n", req->id, exec_error);
  return 0;
}

/* Whether the child's exec failed (F) or happened; called when its error pipe is readable. */
static void check_exec(struct child *c) {
  int error;
  ssize_t n = read(c->errfd, &error, sizeof error);
  if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
  if (n == sizeof error) reply("F %s %d\n", c->id, error);
  close(c->errfd);
  c->errfd = -1;
}

/* Splits a frame into its NUL-terminated fields; returns how many, or -1. */
static int fields(char *buf, size_t len, char **out, int max) {
  int count = 0;
  size_t at = 0;
  while (at < len) {
    char *end = memchr(buf + at, '\0', len - at);
    if (!end || count == max) return -1;
    out[count++] = buf + at;
    at = (size_t)(end - buf) + 1;
  }
  return count;
}

static long number(const char *text) {
  char *end;
  errno = 0;
  long value = strtol(text, &end, 10);
  return errno || *end || end == text ? -1 : value;
}

/*
 * Sandboxes held here (H) and their runs (R). The worker hands over a run's limits, files and
 * input in one request and gets its outcome in one answer: a run's pipes, timers and cgroup
 * files cost this small program a few system calls each, where they cost the worker's event
 * loop several callbacks apiece.
 */
#define KILL_ROUNDS 200
#define PIPE_BYTES (1 << 20)
#define DRAIN_MS 1000

static long long now_us(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (long long)t.tv_sec * 1000000 + t.tv_nsec / 1000;
}

static long long now_ms(void) {
  return now_us() / 1000;
}

/* A stream's bytes up to a cap, and how many there were in all. */
struct capped {
  char *buf;
  size_t cap, len, allocated;
  unsigned long long total;
};

/* Keeps what fits; whether the total is still within the cap. The buffer grows with what it
   keeps: most runs print a few bytes of their (often 1 MiB) allowance. */
static int capped_push(struct capped *c, const char *data, size_t n) {
  c->total += n;
  size_t room = c->cap - c->len;
  if (room > 0) {
    size_t part = n < room ? n : room;
    if (c->len + part > c->allocated) {
      size_t want = c->allocated * 2;
      if (want < c->len + part) want = c->len + part;
      if (want < 4096) want = 4096;
      if (want > c->cap) want = c->cap;
      char *grown = realloc(c->buf, want);
      if (!grown) die("realloc");
      c->buf = grown;
      c->allocated = want;
    }
    memcpy(c->buf + c->len, data, part);
    c->len += part;
  }
  return c->total <= c->cap;
}

/* A part of what a run's sandbox reads on fd 4: bytes of the request, or a host file's contents. */
struct part {
  const char *bytes; /* NULL: the contents of `path` */
  const char *path;
  size_t len, at;
  int fd; /* the file, while it is being sent */
};

struct run {
  char *frame; /* the request, which the strings below point into */
  struct part *parts;
  int nparts, part; /* how many, and the one being sent */
  size_t ctl_len;
  int started; /* once the sandbox was ready: until then the run waits */
  long wall_ms;
  char **writes;
  long nwrites;
  char **after; /* written once the run has ended, whatever became of it */
  long nafter;
  int wrote;    /* its writes were begun: the after writes are owed */
  long long started_us, deadline, next_cpu, drain_until;
  long long cpu_limit_ns; /* -1: none */
  int every_ms;
  const char *cpu_file;
  char cpu_kind;
  long long cpu_base;
  struct capped out, err;
  int err_kill;
  const char *in;
  size_t in_len, in_at;
  char **usage;
  int nusage;
  const char *killed;
  int exited;
  long long wall_us;
};

/*
 * Control files kept open, by path and mode: a lane's cgroup outlives its runs, and its CPU
 * counter is reset and read on every run — two opens (each a path walk through cgroupfs) and two
 * closes saved per run. A run's own cgroup files are let go with its directory (forget_files).
 */
#define KEPT_FILES 64
static struct {
  char *path;
  int flags;
  int fd;
} kept_files[KEPT_FILES];
static size_t nkept_files;

static void drop_kept(size_t i) {
  close(kept_files[i].fd);
  free(kept_files[i].path);
  kept_files[i] = kept_files[--nkept_files];
}

/*
 * A descriptor of `path` opened with `flags` (or kept open for reading and writing); `*kept` says
 * whether it stays open (else the caller closes it). `fresh`: a kept one is let go and the path
 * opened again (its cgroup may have been removed under it).
 */
static int control_fd(const char *path, int flags, int fresh, int *kept) {
  for (size_t i = 0; i < nkept_files; i++)
    if ((kept_files[i].flags == flags || kept_files[i].flags == O_RDWR) && strcmp(kept_files[i].path, path) == 0) {
      if (!fresh) {
        *kept = 1;
        return kept_files[i].fd;
      }
      drop_kept(i);
      break;
    }
  int fd = open(path, flags | O_CLOEXEC);
  *kept = fd >= 0 && nkept_files < KEPT_FILES;
  if (!*kept) return fd;
  char *copy = strdup(path);
  if (!copy) die("strdup");
  kept_files[nkept_files].path = copy;
  kept_files[nkept_files].flags = flags;
  kept_files[nkept_files].fd = fd;
  nkept_files++;
  return fd;
}

/* Closes the kept files under `dir` (before it is removed). */
static void forget_files(const char *dir) {
  size_t len = strlen(dir);
  for (size_t i = 0; i < nkept_files;) {
    if (strncmp(kept_files[i].path, dir, len) == 0 && kept_files[i].path[len] == '/')
      drop_kept(i);
    else
      i++;
  }
}

/*
 * A cgroup file's text (at most 64 KiB), NUL-terminated, or NULL; `len` gets its length. cgroupfs
 * answers a read with the whole text when it fits: a short read is the end, no second read needed.
 */
static char *read_text(const char *path, size_t *len) {
  int kept, fd = control_fd(path, O_RDONLY, 0, &kept);
  if (fd < 0) return NULL;
  size_t cap = 65536, have = 0;
  int reopened = 0;
  char *text = malloc(cap + 1);
  if (!text) die("malloc");
  for (;;) {
    ssize_t n = pread(fd, text + have, cap - have, (off_t)have);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && have == 0 && kept && !reopened++) {
      /* kept, and perhaps stale: once more with the path opened again */
      if ((fd = control_fd(path, O_RDONLY, 1, &kept)) < 0) {
        free(text);
        return NULL;
      }
      continue;
    }
    if (n <= 0) break;
    have += (size_t)n;
    if (have == cap || (size_t)n < 4096) break;
  }
  if (!kept) close(fd);
  text[have] = '\0';
  if (len) *len = have;
  return text;
}

/*
 * Writes a value to a control file (cgroupfs: it must exist); 0, or an errno. `flags`: O_WRONLY,
 * or O_RDWR for a file read afterwards (one open of it).
 */
static int write_value(const char *path, const char *value, int flags) {
  size_t len = strlen(value);
  for (int fresh = 0;; fresh = 1) {
    int kept, fd = control_fd(path, flags, fresh, &kept);
    if (fd < 0) return errno;
    int error = pwrite(fd, value, len, 0) == (ssize_t)len ? 0 : (errno ? errno : EIO);
    if (!kept) close(fd);
    /* A kept file that fails may be stale: once more with the path opened again. */
    if (error == 0 || !kept || fresh) return error;
  }
}

/* The cgroup's CPU time so far (ns), or -1. */
static long long cpu_ns(const struct run *r) {
  char *text = read_text(r->cpu_file, NULL);
  if (!text) return -1;
  long long value = -1;
  if (r->cpu_kind == 'n') {
    value = strtoll(text, NULL, 10);
  } else {
    char *line = strstr(text, "usage_usec ");
    if (line) value = strtoll(line + 11, NULL, 10) * 1000;
  }
  free(text);
  return value;
}

/* SIGKILLs every process listed in `dir`/cgroup.procs. */
static void kill_listed(const char *dir) {
  char path[4200];
  snprintf(path, sizeof path, "%s/cgroup.procs", dir);
  char *text = read_text(path, NULL);
  if (!text) return;
  for (char *at = text, *end; *at; at = end) {
    long pid = strtol(at, &end, 10);
    if (end == at) break;
    if (pid > 0) kill((pid_t)pid, SIGKILL);
  }
  free(text);
}

/* Directories (cgroups) to remove once what was in them is gone, and how often that was tried. */
struct pending_dir {
  char *path;
  int tries;
};
static struct pending_dir *pending;
static size_t npending;

/* Removes a cgroup, or keeps it to try again (its processes may still be leaving). */
static void remove_dir(char *path) {
  forget_files(path);
  if (rmdir(path) == 0 || errno == ENOENT) {
    free(path);
    return;
  }
  struct pending_dir *grown = realloc(pending, (npending + 1) * sizeof *pending);
  if (!grown) die("realloc");
  pending = grown;
  pending[npending++] = (struct pending_dir){path, 0};
}

/* Another try at the directories that could not be removed yet; whether any is left. */
static int retry_dirs(void) {
  for (size_t i = 0; i < npending;) {
    struct pending_dir *d = &pending[i];
    kill_listed(d->path);
    forget_files(d->path);
    if (rmdir(d->path) == 0 || errno == ENOENT || ++d->tries >= KILL_ROUNDS) {
      if (d->tries >= KILL_ROUNDS) fprintf(stderr, "coderunner-spawn: cannot remove %s: %s\n", d->path, strerror(errno));
      free(d->path);
      *d = pending[--npending];
      continue;
    }
    i++;
  }
  return npending > 0;
}

static void close_fd(int *fd) {
  if (*fd >= 0) close(*fd);
  *fd = -1;
}

/* Writes a run's after values, if its writes began (a lane's limits let go for its next sandbox). */
static void write_after(struct run *r) {
  if (!r->wrote) return;
  for (long i = 0; i < r->nafter; i++) {
    int error = write_value(r->after[2 * i], r->after[2 * i + 1], O_WRONLY);
    if (error != 0) fprintf(stderr, "coderunner-spawn: cannot write %s: %s\n", r->after[2 * i], strerror(error));
  }
}

static void free_run(struct run *r) {
  if (!r) return;
  write_after(r);
  free(r->out.buf);
  free(r->err.buf);
  for (int i = 0; r->parts && i < r->nparts; i++)
    if (r->parts[i].fd >= 0) close(r->parts[i].fd);
  free(r->parts);
  free(r->usage);
  free(r->writes);
  free(r->after);
  free(r->frame);
  free(r);
}

/* Removes a held sandbox's cgroup (once it has ended: before its end is told). */
static void drop_dirs(struct child *c) {
  for (int i = 0; i < c->ndirs; i++) remove_dir(c->dirs[i]);
  free(c->dirs);
  c->dirs = NULL;
  c->ndirs = 0;
}

/* A held sandbox has ended and its end was told: its pipes, run and cgroup go. */
static void release_kept(struct child *c) {
  for (int i = 0; i < MAX_FDS; i++) close_fd(&c->fd[i]);
  free_run(c->run);
  c->run = NULL;
  drop_dirs(c);
  c->kept = 0;
}

/* Kills a held sandbox (its first process dies with the one outside, and the rest with it). */
static void kill_run(struct child *c, const char *why) {
  if (c->run && !c->run->killed && why) c->run->killed = why;
  if (c->pid > 0) kill(c->pid, SIGKILL);
}

static void start_run(struct child *c);

/*
 * Reads a held sandbox's status, the first line of its standard output (its fd 3 is that pipe,
 * written before any program runs there): once it tells the first process's pid, the sandbox is
 * ready for its run. What follows the line is the program's, and is not read here.
 */
static void read_status(struct child *c) {
  while (c->inner == 0 && c->fd[FD_OUT] >= 0) {
    size_t room = sizeof c->status - 1 - c->status_len;
    ssize_t n = room ? read(c->fd[FD_OUT], c->status + c->status_len, room) : 0;
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) return;
    if (n <= 0) {
      /* It ended (or said too much) before it was ready: no run comes out of it. */
      close_fd(&c->fd[FD_OUT]);
      return;
    }
    c->status_len += (size_t)n;
    c->status[c->status_len] = '\0';
    char *at = strstr(c->status, "\"child-pid\":");
    if (at && strchr(at, '}')) {
      c->inner = (pid_t)strtol(at + 12, NULL, 10);
      if (c->inner > 0 && c->pid > 0 && c->run && !c->run->started) start_run(c);
    }
  }
}

/* Writes what it can of `data` to a pipe, closing it at the end (or when nobody reads). */
static void feed(int *fd, const char *data, size_t len, size_t *at) {
  while (*fd >= 0 && *at < len) {
    ssize_t n = write(*fd, data + *at, len - *at);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) return;
    if (n < 0) break; /* EPIPE: the program did not read all of its input */
    *at += (size_t)n;
  }
  close_fd(fd);
}

/*
 * Writes what it can of the run's parts to fd 4, a host file's with sendfile (no copy through
 * this process), closing it at the end or when nobody reads. A file that cannot be read to its
 * length ends the run, killed for "files": it was not the program's doing.
 */
static void feed_control(struct child *c) {
  struct run *r = c->run;
  int *fd = &c->fd[FD_CONTROL];
  while (*fd >= 0 && r->part < r->nparts) {
    struct part *p = &r->parts[r->part];
    if (p->at == p->len) {
      if (p->fd >= 0) close_fd(&p->fd);
      r->part++;
      continue;
    }
    ssize_t n;
    if (p->bytes) {
      n = write(*fd, p->bytes + p->at, p->len - p->at);
    } else {
      if (p->fd < 0) {
        struct stat st;
        p->fd = open(p->path, O_RDONLY | O_CLOEXEC);
        /* Exactly the length its header in the message says, or the program would be cut. */
        if (p->fd >= 0 && (fstat(p->fd, &st) != 0 || (size_t)st.st_size != p->len)) close_fd(&p->fd);
      }
      off_t offset = (off_t)p->at;
      n = p->fd < 0 ? -1 : sendfile(*fd, p->fd, &offset, p->len - p->at);
      if (p->fd < 0 || n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR && errno != EPIPE)) {
        kill_run(c, "files");
        break;
      }
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) return;
    if (n < 0) break; /* EPIPE: the stub has ended */
    p->at += (size_t)n;
  }
  close_fd(fd);
}

/* Reads what a pipe has (a bounded amount, so that a flood cannot starve the other runs). */
static void drain(struct child *c, int which) {
  static char chunk[65536];
  struct run *r = c->run;
  struct capped *into = which == FD_OUT ? &r->out : &r->err;
  for (int round = 0; round < 16; round++) {
    ssize_t n = read(c->fd[which], chunk, sizeof chunk);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) return;
    if (n <= 0) {
      close_fd(&c->fd[which]);
      return;
    }
    if (!capped_push(into, chunk, (size_t)n) && (which == FD_OUT || r->err_kill)) kill_run(c, "output");
  }
}

/* The run's answer: the numbers, then the kept output, error and usage files' texts. */
static void answer_run(struct child *c) {
  struct run *r = c->run;
  long long end = cpu_ns(r);
  long long cpu = end >= 0 && r->cpu_base >= 0 ? end - r->cpu_base : -1;
  if (cpu < 0 && end >= 0) cpu = end;
  char **texts = calloc((size_t)r->nusage + 1, sizeof *texts);
  size_t *lens = calloc((size_t)r->nusage + 1, sizeof *lens);
  if (!texts || !lens) die("calloc");
  char head[1024];
  int n = snprintf(head, sizeof head, "R %s %d %d %lld %lld %s %llu %llu %zu %zu %d", c->id, c->code, c->signal,
                   r->wall_us, cpu, r->killed ? r->killed : "-", r->out.total, r->err.total, r->out.len, r->err.len,
                   r->nusage);
  for (int i = 0; i < r->nusage; i++) {
    texts[i] = read_text(r->usage[i], &lens[i]);
    if (!texts[i]) lens[i] = 0;
    if (n > 0 && (size_t)n < sizeof head) n += snprintf(head + n, sizeof head - (size_t)n, " %zu", lens[i]);
  }
  if (n > 0 && (size_t)n < sizeof head) n += snprintf(head + n, sizeof head - (size_t)n, "\n");
  /* The worker asks for a few usage files: a line this long is its mistake, not a run's. */
  if (n <= 0 || (size_t)n >= sizeof head) die("a run's answer does not fit its line");
  drop_dirs(c);
  /* One write for the whole answer: the worker wakes once for it. */
  struct iovec *iov = calloc((size_t)r->nusage + 3, sizeof *iov);
  if (!iov) die("calloc");
  int count = 0;
  iov[count++] = (struct iovec){head, (size_t)n};
  if (r->out.len) iov[count++] = (struct iovec){r->out.buf, r->out.len};
  if (r->err.len) iov[count++] = (struct iovec){r->err.buf, r->err.len};
  for (int i = 0; i < r->nusage; i++)
    if (lens[i]) iov[count++] = (struct iovec){texts[i], lens[i]};
  writev_all(STDOUT_FILENO, iov, count);
  for (int i = 0; i < r->nusage; i++) free(texts[i]);
  free(iov);
  free(texts);
  free(lens);
}

/*
 * Moves a run on: limits while it runs; once it has ended, its cgroup emptied, its output read
 * to the end (or DRAIN_MS passed), the answer. Returns how long the loop may sleep (ms, -1: no
 * limit), and 0 after the run's child has been forgotten (`c` is then invalid).
 */
static long long step_run(struct child *c) {
  struct run *r = c->run;
  if (!r->started) return -1;
  long long now = now_ms();
  if (!r->exited) {
    if (now >= r->deadline) kill_run(c, "wall");
    if (r->cpu_limit_ns >= 0 && now >= r->next_cpu) {
      long long used = cpu_ns(r);
      if (used >= 0 && used - r->cpu_base > r->cpu_limit_ns) kill_run(c, "cpu");
      r->next_cpu = now + r->every_ms;
    }
    long long wait = r->deadline - now;
    if (r->cpu_limit_ns >= 0 && r->next_cpu - now < wait) wait = r->next_cpu - now;
    return wait < 0 ? 0 : wait;
  }
  /*
   * Whatever the program left behind (a stopped child, a daemon) was in its pid namespace, which
   * ended with its first process; a process still leaving keeps its cgroup busy, and removing
   * it (remove_dir) kills what is listed there until it can.
   */
  if (!r->drain_until) r->drain_until = now + DRAIN_MS;
  if ((c->fd[FD_OUT] >= 0 || c->fd[FD_ERR] >= 0) && now < r->drain_until) return r->drain_until - now;
  answer_run(c);
  release_kept(c);
  forget(c);
  return 0;
}

/* One field of an R request, NUL-terminated, from `*at` on; NULL past the end. */
static char *next_field(char **at, char *end) {
  char *nul = *at < end ? memchr(*at, '\0', (size_t)(end - *at)) : NULL;
  if (!nul) return NULL;
  char *field = *at;
  *at = nul + 1;
  return field;
}

/* A count field of an R request (the request is malformed without one). */
static long take_count(char **at, char *end) {
  char *field = next_field(at, end);
  long n = field ? number(field) : -1;
  if (n < 0) die("malformed request");
  return n;
}

/* `n` fields of an R request from `*at` on, in an array the caller frees. */
static char **take_fields(char **at, char *end, long n) {
  char **fields = calloc((size_t)n + 1, sizeof *fields);
  if (!fields) die("calloc");
  for (long i = 0; i < n; i++)
    if (!(fields[i] = next_field(at, end))) die("malformed request");
  return fields;
}

/*
 * Starts a held sandbox's run: the cgroup's files written (its limits, its counters reset), the
 * stub's message and the input fed. A file that cannot be written refuses the run (E) and kills
 * the sandbox.
 */
static void start_run(struct child *c) {
  struct run *r = c->run;
  int error = 0;
  r->wrote = 1;
  for (long i = 0; error == 0 && i < r->nwrites; i++) {
    /* A usage file reset here (the memory peak) is read at the end: opened once for both. */
    int flags = O_WRONLY;
    for (int k = 0; k < r->nusage && flags == O_WRONLY; k++)
      if (strcmp(r->usage[k], r->writes[2 * i]) == 0) flags = O_RDWR;
    error = write_value(r->writes[2 * i], r->writes[2 * i + 1], flags);
  }
  if (error != 0) {
    reply("E %s %d\n", c->id, error);
    free_run(r);
    c->run = NULL;
    kill_run(c, NULL);
    return;
  }
  r->started = 1;
  /* A large message (a compiled Go program, say) goes in a few writes rather than 64 KiB at a
     time, each waiting for the stub to read (a failure only leaves the pipe as it was). */
  if (r->ctl_len > 65536 && c->fd[FD_CONTROL] >= 0) (void)fcntl(c->fd[FD_CONTROL], F_SETPIPE_SZ, PIPE_BYTES);
  /* cpu.stat cannot be reset; cpuacct.usage was, by one of the writes. */
  r->cpu_base = r->cpu_kind == 'u' ? cpu_ns(r) : 0;
  r->started_us = now_us();
  long long now = r->started_us / 1000;
  /* Rounded up: the run is killed for its wall time only once wall_us, counted from started_us,
     has reached the limit (from the millisecond truncated it could be up to 1 ms short). */
  r->deadline = (r->started_us + r->wall_ms * 1000 + 999) / 1000;
  r->next_cpu = now + r->every_ms;
  feed_control(c);
  feed(&c->fd[FD_IN], r->in, r->in_len, &r->in_at);
}

static void handle_run(char *frame, size_t len) {
  char *copy = malloc(len ? len : 1);
  if (!copy) die("malloc");
  memcpy(copy, frame, len);
  char *at = copy, *end = copy + len;
  char *f[10];
  for (int i = 0; i < 10; i++)
    if (!(f[i] = next_field(&at, end))) die("malformed request");
  /* f: R id wallMs cpuMs cpuFile cpuKind outLimit errLimit errKill nwrites */
  const char *id = f[1];
  long wall = number(f[2]), cpu = f[3][0] ? number(f[3]) : -2, out = number(f[6]), err = number(f[7]);
  long nwrites = number(f[9]);
  if (wall < 0 || cpu == -1 || out < 0 || err < 0 || nwrites < 0 || (f[5][0] != 'n' && f[5][0] != 'u'))
    die("malformed request");
  char **writes = take_fields(&at, end, nwrites * 2);
  long nusage = take_count(&at, end);
  char **usage = take_fields(&at, end, nusage);
  long nafter = take_count(&at, end);
  char **after = take_fields(&at, end, nafter * 2);
  long nparts = take_count(&at, end);
  struct part *parts = calloc((size_t)nparts + 1, sizeof *parts);
  if (!parts) die("calloc");
  size_t inline_bytes = 0, ctl_bytes = 0;
  for (long i = 0; i < nparts; i++) {
    char *part = next_field(&at, end), *rest;
    if (!part || (part[0] != 'b' && part[0] != 'f')) die("malformed request");
    errno = 0;
    unsigned long long len = strtoull(part + 1, &rest, 10);
    if (errno || rest == part + 1 || (part[0] == 'b' ? *rest != '\0' : *rest != ' ' || !rest[1])) die("malformed request");
    parts[i] = (struct part){NULL, part[0] == 'f' ? rest + 1 : NULL, (size_t)len, 0, -1};
    if (part[0] == 'b') inline_bytes += (size_t)len;
    ctl_bytes += (size_t)len;
  }
  char *in_len = next_field(&at, end);
  long in_bytes = in_len ? number(in_len) : -1;
  if (in_bytes < 0 || (size_t)(end - at) != inline_bytes + (size_t)in_bytes) die("malformed request");
  /* The parts' bytes follow the fields in order, then the input. */
  for (long i = 0; i < nparts; i++) {
    if (parts[i].path) continue;
    parts[i].bytes = at;
    at += parts[i].len;
  }

  struct child *c = find(id);
  int error = !c || !c->kept || c->pid == 0 ? ESRCH : c->run ? EBUSY : 0;
  if (error != 0) {
    reply("E %s %d\n", id, error);
    free(writes);
    free(after);
    free(usage);
    free(parts);
    free(copy);
    return;
  }
  struct run *r = calloc(1, sizeof *r);
  if (!r) die("calloc");
  r->frame = copy;
  r->wall_ms = wall;
  r->writes = writes;
  r->nwrites = nwrites;
  r->after = after;
  r->nafter = nafter;
  r->cpu_file = f[4];
  r->cpu_kind = f[5][0];
  r->cpu_limit_ns = cpu >= 0 ? (long long)cpu * 1000000 : -1;
  r->every_ms = cpu >= 0 ? (int)(cpu / 5 < 10 ? 10 : cpu / 5 > 100 ? 100 : cpu / 5) : 0;
  r->out.cap = (size_t)out;
  r->err.cap = (size_t)err;
  r->err_kill = f[8][0] == '1';
  r->usage = usage;
  r->nusage = (int)nusage;
  r->parts = parts;
  r->nparts = (int)nparts;
  r->ctl_len = ctl_bytes;
  r->in = at;
  r->in_len = (size_t)in_bytes;
  c->run = r;
  /*
   * A sandbox still being made gets its run once it tells its first process (read_status). Its
   * status pipe is read only now that a run waits for it: a sandbox made ahead is ready by then,
   * and its becoming ready wakes nobody.
   */
  if (c->inner == 0) read_status(c);
  else start_run(c);
}

/*
 * A held sandbox was reaped: its run goes on to its answer, or, with none, X tells the end (the
 * caller forgets it).
 */
static void kept_ended(struct child *c, int status) {
  c->code = WIFSIGNALED(status) ? -1 : WEXITSTATUS(status);
  c->signal = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
  if (c->run && !c->run->started) {
    /* It ended before it was ready: the run cannot be. */
    reply("E %s %d\n", c->id, ESRCH);
    free_run(c->run);
    c->run = NULL;
  }
  if (c->run) {
    c->run->exited = 1;
    c->run->wall_us = now_us() - c->run->started_us;
    return;
  }
  drop_dirs(c);
  reply("X %s %d %d\n", c->id, c->code, c->signal);
  release_kept(c);
}

static void handle_start(char **f, int n, const char *id, int kept, char **dirs, int ndirs);

static void handle(char *frame, size_t len) {
  enum { MAX_FIELDS = 65536 };
  /* A run's request ends in bytes of any value: it is split by its counts. */
  if (len >= 2 && frame[0] == 'R' && frame[1] == '\0') {
    handle_run(frame, len);
    return;
  }
  static char *f[MAX_FIELDS];
  int n = fields(frame, len, f, MAX_FIELDS);
  if (n < 2) die("malformed request");
  const char *op = f[0], *id = f[1];
  if (strcmp(op, "K") == 0 && n == 3) {
    struct child *c = find(id);
    if (c && c->pid > 0) kill(c->pid, (int)number(f[2]));
    return;
  }
  if (strcmp(op, "D") == 0 && n == 2) {
    struct child *c = find(id);
    if (c) {
      release(c);
      forget(c);
    }
    return;
  }
  if (strcmp(op, "C") == 0 && n == 2) {
    struct child *c = find(id);
    if (c && c->run && !c->run->exited) kill_run(c, c->run->started ? "cancelled" : NULL);
    return;
  }
  if (strlen(id) >= sizeof children->id) die("malformed request");
  if (strcmp(op, "S") == 0) {
    handle_start(f, n, id, 0, NULL, 0);
    return;
  }
  long ndirs = strcmp(op, "H") == 0 && n > 2 ? number(f[2]) : -1;
  if (ndirs < 0 || 3 + ndirs > n) die("malformed request");
  char **dirs = calloc((size_t)ndirs + 1, sizeof *dirs);
  if (!dirs) die("calloc");
  for (long i = 0; i < ndirs; i++) {
    dirs[i] = strdup(f[3 + i]);
    if (!dirs[i]) die("strdup");
  }
  /* The fields of S follow, as if its id were the last dir. */
  handle_start(f + 1 + ndirs, n - 1 - (int)ndirs, id, 1, dirs, (int)ndirs);
}

/* The fields of S from f[2] on (f[0] and f[1] being the op and id). */
static void handle_start(char **f, int n, const char *id, int kept, char **dirs, int ndirs) {
  if (n < 9) die("malformed request");
  struct request req = {.id = id, .cwd = f[2], .uid = f[3], .stack = f[4], .net = f[5], .enter = f[6], .netfd = -1};
  req.nfds = (int)number(f[7]);
  long nprocs = number(f[8]);
  /* A sandbox entered tells its first process's pid on fd 3; one held here has all five pipes. */
  int min_fds = kept ? MAX_FDS : req.enter[0] != '\0' ? 4 : 3;
  if (req.nfds < min_fds || req.nfds > MAX_FDS || nprocs < 0 || 9 + nprocs >= n) die("malformed request");
  req.procs = &f[9];
  req.nprocs = (int)nprocs;
  int at = 9 + req.nprocs;
  if (req.net[0] != '\0') {
    req.netfd = netns_fd(req.net);
    req.neterr = errno;
  }
  /* Entered with no program: the stub itself (see enter_main). */
  long argc = number(f[at]);
  if (argc < (req.enter[0] != '\0' ? 0 : 1) || at + 1 + argc >= n) die("malformed request");
  /* argv and envp must end in NULL: the count fields are overwritten with it, shifted. */
  char **argv = calloc((size_t)argc + 1, sizeof *argv);
  long envc = number(f[at + 1 + argc]);
  if (!argv || envc < 0 || at + 2 + argc + envc != n) die("malformed request");
  char **envp = calloc((size_t)envc + 1, sizeof *envp);
  if (!envp) die("calloc");
  memcpy(argv, &f[at + 1], (size_t)argc * sizeof *argv);
  memcpy(envp, &f[at + 2 + argc], (size_t)envc * sizeof *envp);
  req.argv = argv;
  req.envp = envp;
  int error = 0;
  for (int i = 0; i < ndirs && error == 0; i++)
    if (mkdir(dirs[i], 0755) != 0 && errno != EEXIST) error = errno;
  if (error == 0 && start(&req, kept, dirs, ndirs) == 0) dirs = NULL;
  else if (error != 0) reply("F %s %d\n", id, error);
  for (int i = 0; dirs && i < ndirs; i++) remove_dir(dirs[i]);
  free(dirs);
  free(argv);
  free(envp);
}

static void reap(void) {
  int status;
  pid_t pid;
  while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
    for (size_t i = 0; i < nchildren; i++) {
      struct child *c = &children[i];
      if (c->pid != pid) continue;
      c->pid = 0;
      /* Its exec failure, if any, is told before its end. */
      if (c->errfd >= 0) check_exec(c);
      if (c->errfd >= 0) {
        close(c->errfd);
        c->errfd = -1;
      }
      if (c->kept) kept_ended(c, status);
      else if (WIFSIGNALED(status)) reply("X %s -1 %d\n", c->id, WTERMSIG(status));
      else reply("X %s %d 0\n", c->id, WEXITSTATUS(status));
      forget(c);
      break;
    }
  }
}

int main(void) {
  pid_t parent = getppid();
  if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) die("prctl");
  if (getppid() != parent) return 1;
  /* What the sandboxes leave orphaned is reaped here (not by the host's init, which in a
     container may be a program that never reaps). */
  if (prctl(PR_SET_CHILD_SUBREAPER, 1) != 0) die("prctl");
  signal(SIGPIPE, SIG_IGN);
  /* Each run mallocs and frees buffers of 64 KiB: the freed top of the heap is kept for the next
     run rather than given back (brk) and asked for again. */
  mallopt(M_TRIM_THRESHOLD, 4 << 20);
  FILE *cap = fopen("/proc/sys/kernel/cap_last_cap", "r");
  if (cap) {
    if (fscanf(cap, "%d", &last_cap) != 1) last_cap = 40;
    fclose(cap);
  }
  sigset_t chld;
  sigemptyset(&chld);
  sigaddset(&chld, SIGCHLD);
  sigprocmask(SIG_BLOCK, &chld, NULL);
  int sfd = signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK);
  if (sfd < 0) die("signalfd");
  fcntl(STDIN_FILENO, F_SETFD, FD_CLOEXEC);
  fcntl(STDOUT_FILENO, F_SETFD, FD_CLOEXEC);
  /* What this helper inherited (a supervisor's pipe, say) must not reach a sandbox. */
  cloexec_from(STDERR_FILENO + 1);
  ssize_t len = readlink("/proc/self/exe", stub_path, sizeof stub_path - 1);
  char *slash = len > 0 ? memrchr(stub_path, '/', (size_t)len) : NULL;
  if (!slash || (size_t)(slash - stub_path) + sizeof "/coderunner-stub" > sizeof stub_path) die("readlink");
  strcpy(slash, "/coderunner-stub");
  /* A run's request carries its files: larger pipes take it in fewer rounds (when allowed). */
  (void)fcntl(STDIN_FILENO, F_SETPIPE_SZ, PIPE_BYTES);
  (void)fcntl(STDOUT_FILENO, F_SETPIPE_SZ, PIPE_BYTES);

  size_t have = 0, size = 1 << 16;
  char *buf = malloc(size);
  struct pollfd *p = NULL;
  size_t np = 0;
  if (!buf) die("malloc");
  for (;;) {
    /* Each child may bring its exec-error pipe and, held with a run, four more. */
    if (np < 6 * nchildren + 2) {
      np = 6 * nchildren + 16;
      p = realloc(p, np * sizeof *p);
      if (!p) die("realloc");
    }
    /* The runs' next deadlines (a run that has just ended may answer, and its child go, first). */
    long long timeout = npending > 0 ? 5 : -1;
    for (size_t i = nchildren; i-- > 0;) {
      if (!children[i].run) continue;
      long long wait = step_run(&children[i]);
      if (wait >= 0 && (timeout < 0 || wait < timeout)) timeout = wait;
    }
    p[0] = (struct pollfd){STDIN_FILENO, POLLIN, 0};
    p[1] = (struct pollfd){sfd, POLLIN, 0};
    nfds_t count = 2;
    for (size_t i = 0; i < nchildren; i++) {
      struct child *c = &children[i];
      if (c->errfd >= 0) p[count++] = (struct pollfd){c->errfd, POLLIN, 0};
      if (!c->kept) continue;
      if (!c->run) continue;
      if (!c->run->started) {
        if (c->inner == 0 && c->fd[FD_OUT] >= 0) p[count++] = (struct pollfd){c->fd[FD_OUT], POLLIN, 0};
        continue;
      }
      if (c->fd[FD_CONTROL] >= 0) p[count++] = (struct pollfd){c->fd[FD_CONTROL], POLLOUT, 0};
      if (c->fd[FD_IN] >= 0) p[count++] = (struct pollfd){c->fd[FD_IN], POLLOUT, 0};
      if (c->fd[FD_OUT] >= 0) p[count++] = (struct pollfd){c->fd[FD_OUT], POLLIN, 0};
      if (c->fd[FD_ERR] >= 0) p[count++] = (struct pollfd){c->fd[FD_ERR], POLLIN, 0};
    }
    if (poll(p, count, (int)timeout) < 0) {
      if (errno == EINTR) continue;
      die("poll");
    }
    for (nfds_t k = 2; k < count; k++) {
      if (!p[k].revents) continue;
      for (size_t i = 0; i < nchildren; i++) {
        struct child *c = &children[i];
        if (c->errfd == p[k].fd) {
          check_exec(c);
          forget(c);
          break;
        }
        if (!c->kept) continue;
        /* Polled as above: its status while its run waits, its output once the run started. */
        if (c->run && !c->run->started && c->fd[FD_OUT] == p[k].fd) read_status(c);
        else if (c->run && c->fd[FD_CONTROL] == p[k].fd)
          feed_control(c);
        else if (c->run && c->fd[FD_IN] == p[k].fd) feed(&c->fd[FD_IN], c->run->in, c->run->in_len, &c->run->in_at);
        else if (c->run && c->fd[FD_OUT] == p[k].fd) drain(c, FD_OUT);
        else if (c->run && c->fd[FD_ERR] == p[k].fd) drain(c, FD_ERR);
        else continue;
        break;
      }
    }
    if (npending > 0) retry_dirs();
    if (p[1].revents & POLLIN) {
      struct signalfd_siginfo info;
      while (read(sfd, &info, sizeof info) > 0) {
      }
      reap();
    }
    if (!(p[0].revents & (POLLIN | POLLHUP))) continue;
    if (have == size) {
      size *= 2;
      buf = realloc(buf, size);
      if (!buf) die("realloc");
    }
    ssize_t n = read(STDIN_FILENO, buf + have, size - have);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    have += (size_t)n;
    size_t at = 0;
    while (have - at >= 4) {
      uint32_t len;
      memcpy(&len, buf + at, 4);
      if (len > MAX_FRAME) die("request too large");
      if (have - at - 4 < len) break;
      handle(buf + at + 4, len);
      at += 4 + len;
    }
    memmove(buf, buf + at, have - at);
    have -= at;
  }
  /* The worker has gone: so does everything started for it, reaped here. */
  for (size_t i = 0; i < nchildren; i++)
    if (children[i].pid > 0) kill(children[i].pid, SIGKILL);
  for (size_t i = 0; i < nchildren; i++)
    if (children[i].pid > 0) waitpid(children[i].pid, NULL, 0);
  /* The cgroups of the sandboxes held here, emptied (a try or so: the worker sweeps the rest). */
  for (size_t i = 0; i < nchildren; i++)
    if (children[i].kept) release_kept(&children[i]);
  for (int round = 0; round < 20 && retry_dirs(); round++) usleep(5000);
  return 0;
}
