/*
 * coderunner-stub: the first process of a sandbox made ahead, waiting for its run.
 *
 * It is started inside the sandbox (as the sandbox user, in /box) and reads two messages on
 * fd 4, each a list of NUL-terminated fields ended by an empty field:
 *   1. `d<dir>` and `f<file>`: make these in /box (files empty), then answer `C` on standard
 *      output; `c<mode> <length> <file>` followed by that many bytes: a file with these
 *      contents and mode (octal), written as they come (of any length); `q`: no answer (the
 *      host sends both messages at once);
 *   2. `s<KiB|unlimited>` the stack limit, `e<NAME=value>` the environment, `a<arg>` argv:
 *      close fd 4 and exec the program (argv[0] looked up in the PATH given, like execvp).
 * Anything else, or a failure, ends it with status 125 before its program (`C` never comes; a
 * file or directory it cannot make is also said on standard error, FILES_FAILED); a program that
 * cannot be executed ends it with status 127 and a line on standard error.
 *
 * It runs once per test, so it is built without the C library (see build-native.mjs): no
 * dynamic linking and none of the library's start-up, which probes the CPU with instructions
 * that are slow in a virtual machine. A shell in its place cost about a millisecond per run.
 *
 * It also makes the sandboxes ahead (`coderunner-stub enter ...`, exec'd by the spawn helper on
 * the host, see enter_main): a small program forks in a fraction of the time the helper takes,
 * and each of the sandbox's first processes would otherwise be a copy of the helper's memory.
 */
#include <asm/unistd.h>
#include <linux/audit.h>
#include <linux/capability.h>
#include <linux/errno.h>
#include <linux/fcntl.h>
#include <linux/filter.h>
#include <linux/mount.h>
#include <linux/nsfs.h>
#include <linux/prctl.h>
#include <linux/resource.h>
#include <linux/sched.h>
#include <linux/seccomp.h>

/* JOIN_FAILED_EXIT in the spawn helper: also what a sandbox that cannot be made ends with. */
#define FAIL_EXIT 125
#define EXEC_FAILED_EXIT 127
#define CONTROL_FD 4
#define BUF_SIZE (256 * 1024)
#define MAX_ENTRIES 4096
#define MAX_PATH 4096
#define FILES_FAILED "coderunner: cannot make the run's files\n"

static long sys(long n, long a, long b, long c, long d) {
#if defined(__x86_64__)
  long ret;
  register long r10 __asm__("r10") = d;
  __asm__ volatile("syscall" : "=a"(ret) : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10) : "rcx", "r11", "memory");
  return ret;
#elif defined(__aarch64__)
  register long x8 __asm__("x8") = n;
  register long x0 __asm__("x0") = a;
  register long x1 __asm__("x1") = b;
  register long x2 __asm__("x2") = c;
  register long x3 __asm__("x3") = d;
  __asm__ volatile("svc 0" : "+r"(x0) : "r"(x8), "r"(x1), "r"(x2), "r"(x3) : "memory");
  return x0;
#else
#error "coderunner-stub supports x86_64 and aarch64"
#endif
}

/* The six-argument form, for splice. */
static long sys6(long n, long a, long b, long c, long d, long e, long f) {
#if defined(__x86_64__)
  long ret;
  register long r10 __asm__("r10") = d;
  register long r8 __asm__("r8") = e;
  register long r9 __asm__("r9") = f;
  __asm__ volatile("syscall"
                   : "=a"(ret)
                   : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
                   : "rcx", "r11", "memory");
  return ret;
#else
  register long x8 __asm__("x8") = n;
  register long x0 __asm__("x0") = a;
  register long x1 __asm__("x1") = b;
  register long x2 __asm__("x2") = c;
  register long x3 __asm__("x3") = d;
  register long x4 __asm__("x4") = e;
  register long x5 __asm__("x5") = f;
  __asm__ volatile("svc 0" : "+r"(x0) : "r"(x8), "r"(x1), "r"(x2), "r"(x3), "r"(x4), "r"(x5) : "memory");
  return x0;
#endif
}

#if defined(__x86_64__)
__asm__(".text\n.global _start\n_start:\n xor %rbp, %rbp\n mov %rsp, %rdi\n and $-16, %rsp\n call stub_start\n hlt\n");
#else
__asm__(".text\n.global _start\n_start:\n mov x29, #0\n mov x30, #0\n mov x0, sp\n bl stub_start\n brk #0\n");
#endif

/* The compiler may emit calls to these even without the C library. */
void *memcpy(void *dst, const void *src, unsigned long n) {
  char *d = dst;
  const char *s = src;
  while (n--) *d++ = *s++;
  return dst;
}

void *memset(void *dst, int c, unsigned long n) {
  char *d = dst;
  while (n--) *d++ = (char)c;
  return dst;
}

static unsigned long length(const char *s) {
  unsigned long n = 0;
  while (s[n]) n++;
  return n;
}

static __attribute__((noreturn)) void leave(int code) {
  for (;;) sys(__NR_exit_group, code, 0, 0, 0);
}

static void say(const char *s) {
  sys(__NR_write, 2, (long)s, (long)length(s), 0);
}

/* The run's files could not be made: said, so that the host tells it from its program's end. */
static __attribute__((noreturn)) void files_failed(void) {
  say(FILES_FAILED);
  leave(FAIL_EXIT);
}

static char buf[BUF_SIZE];
static long filled, pos;

/* Reads more of the messages from the control fd; ends the stub at their end or past its buffer. */
static void read_more(void) {
  for (;;) {
    if (filled == BUF_SIZE) leave(FAIL_EXIT);
    long n = sys(__NR_read, CONTROL_FD, (long)(buf + filled), BUF_SIZE - filled, 0);
    if (n == -EINTR) continue;
    if (n <= 0) leave(FAIL_EXIT);
    filled += n;
    return;
  }
}

/* The second message's fields stay in the buffer until the exec: it is not moved then. */
static int keep_fields;

/* Moves what is left to read to the start of the buffer. */
static void compact(void) {
  long n = filled - pos;
  for (long i = 0; i < n; i++) buf[i] = buf[pos + i];
  filled = n;
  pos = 0;
}

/* The next field on the control fd; the empty field ends a message. */
static char *field(void) {
  for (long i = pos;; i++) {
    if (i == filled) {
      if (filled == BUF_SIZE && !keep_fields) {
        i -= pos;
        compact();
      }
      read_more();
    }
    if (buf[i] == 0) {
      char *f = buf + pos;
      pos = i + 1;
      return f;
    }
  }
}

/* Up to `n` more bytes of the message (at least one), from `*at`; the buffer is reused once read. */
static unsigned long some_bytes(unsigned long n, char **at) {
  if (pos == filled) {
    /* Everything read so far has been used (no field read before is needed any more). */
    pos = filled = 0;
    read_more();
  }
  unsigned long have = (unsigned long)(filled - pos);
  if (have > n) have = n;
  *at = buf + pos;
  pos += (long)have;
  return have;
}

/* A number in `base` up to the character `end`, moving `s` past it; -1 when there is none. */
static long long parse_number(char **s, unsigned base, char end) {
  unsigned long long n = 0;
  if (**s == end) return -1;
  for (; **s != end; (*s)++) {
    unsigned digit = (unsigned)(**s - '0');
    if (digit >= base || n > (~0ULL >> 5)) return -1;
    n = n * base + digit;
  }
  (*s)++;
  return (long long)n;
}

/* parse_number in the run's messages, where anything malformed ends the stub. */
static unsigned long number(char **s, unsigned base, char end) {
  long long n = parse_number(s, base, end);
  if (n < 0) leave(FAIL_EXIT);
  return (unsigned long)n;
}

/* `c<mode> <length> <name>`, then the contents, written as they come (any length). */
static void make_file_with_contents(char *f) {
  unsigned long mode = number(&f, 8, ' ');
  unsigned long size = number(&f, 10, ' ');
  if (mode > 07777 || !*f) leave(FAIL_EXIT);
  long fd = sys(__NR_openat, AT_FDCWD, (long)f, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  if (fd < 0) files_failed();
  /* What is not read yet moves from the pipe to the file in the kernel (a large compiled
     program, say), once what is read has been written; read and written where splice is not. */
  for (int splicing = 1; size > 0;) {
    if (splicing && pos == filled) {
      long n = sys6(__NR_splice, CONTROL_FD, 0, fd, 0, (long)size, 0);
      if (n == -EINTR) continue;
      if (n == 0) leave(FAIL_EXIT);
      if (n > 0) {
        size -= (unsigned long)n;
        continue;
      }
      if (n != -EINVAL) files_failed();
      splicing = 0;
    }
    char *data;
    unsigned long chunk = some_bytes(size, &data);
    size -= chunk;
    while (chunk > 0) {
      long n = sys(__NR_write, fd, (long)data, (long)chunk, 0);
      if (n == -EINTR) continue;
      if (n <= 0) files_failed();
      data += n;
      chunk -= (unsigned long)n;
    }
  }
  if (sys(__NR_fchmod, fd, (long)mode, 0, 0) < 0) files_failed();
  sys(__NR_close, fd, 0, 0, 0);
}

/* Makes the files of the first message; whether to answer it. */
static int make_files(void) {
  int answer = 1;
  for (char *f = field(); *f; f = field()) {
    if (*f == 'q' && !f[1]) {
      answer = 0;
    } else if (*f == 'c') {
      make_file_with_contents(f + 1);
    } else if (*f == 'd') {
      long r = sys(__NR_mkdirat, AT_FDCWD, (long)(f + 1), 0777, 0);
      if (r < 0 && r != -EEXIST) files_failed();
    } else if (*f == 'f') {
      long fd = sys(__NR_openat, AT_FDCWD, (long)(f + 1), O_WRONLY | O_CREAT | O_TRUNC, 0666);
      if (fd < 0) files_failed();
      sys(__NR_close, fd, 0, 0, 0);
    } else {
      leave(FAIL_EXIT);
    }
  }
  return answer;
}

/* A stack limit, `u…` (unlimited) or KiB, into `*bytes`; 0 when it is malformed or too large. */
static int stack_limit(char *s, unsigned long long *bytes) {
  if (*s == 'u') {
    *bytes = RLIM64_INFINITY;
    return 1;
  }
  long long kib = parse_number(&s, 10, '\0');
  if (kib < 0 || kib > (long long)(~0ULL >> 11)) return 0;
  *bytes = (unsigned long long)kib * 1024;
  return 1;
}

/* What strerror says of the errors these system calls give. */
static const char *error_name(long e) {
  switch (e) {
    case EPERM: return "Operation not permitted";
    case ENOENT: return "No such file or directory";
    case ESRCH: return "No such process";
    case EINTR: return "Interrupted system call";
    case EIO: return "Input/output error";
    case E2BIG: return "Argument list too long";
    case ENOEXEC: return "Exec format error";
    case EBADF: return "Bad file descriptor";
    case EAGAIN: return "Resource temporarily unavailable";
    case ENOMEM: return "Cannot allocate memory";
    case EACCES: return "Permission denied";
    case EBUSY: return "Device or resource busy";
    case EEXIST: return "File exists";
    case ENOTDIR: return "Not a directory";
    case EINVAL: return "Invalid argument";
    case EMFILE: return "Too many open files";
    case ETXTBSY: return "Text file busy";
    case ENOSPC: return "No space left on device";
    case ENOSYS: return "Function not implemented";
    case EUSERS: return "Too many users";
    case ENAMETOOLONG: return "File name too long";
    default: return "Unknown error";
  }
}

/* The program could not be executed (`error`: what execve returned): said, with its own status. */
static __attribute__((noreturn)) void cannot_execute(const char *name, long error) {
  say("coderunner: cannot execute ");
  say(name);
  say(": ");
  say(error_name(-error));
  say("\n");
  leave(EXEC_FAILED_EXIT);
}

static char *argv[MAX_ENTRIES + 1];
static char *envp[MAX_ENTRIES + 1];
static char path[MAX_PATH];

/* execve, looking the name up in PATH when it has no slash (as execvp does). */
static long run(void) {
  const char *name = argv[0];
  for (const char *p = name; *p; p++)
    if (*p == '/') return sys(__NR_execve, (long)name, (long)argv, (long)envp, 0);
  const char *dirs = "/usr/local/bin:/usr/bin:/bin";
  for (char **e = envp; *e; e++)
    if ((*e)[0] == 'P' && (*e)[1] == 'A' && (*e)[2] == 'T' && (*e)[3] == 'H' && (*e)[4] == '=') dirs = *e + 5;
  unsigned long name_len = length(name);
  long result = -ENOENT;
  int denied = 0;
  for (const char *dir = dirs;;) {
    const char *end = dir;
    while (*end && *end != ':') end++;
    unsigned long dir_len = (unsigned long)(end - dir);
    if (dir_len + name_len + 2 <= MAX_PATH) {
      unsigned long k = 0;
      for (const char *c = dir; c < end; c++) path[k++] = *c;
      if (dir_len == 0) path[k++] = '.';
      path[k++] = '/';
      for (unsigned long i = 0; i <= name_len; i++) path[k++] = name[i];
      result = sys(__NR_execve, (long)path, (long)argv, (long)envp, 0);
      if (result == -EACCES) denied = 1;
      else if (result != -ENOENT && result != -ENOTDIR) return result;
    }
    if (!*end) break;
    dir = end + 1;
  }
  return denied ? -EACCES : result;
}

static __attribute__((noreturn)) void stub_main(void) {
  if (make_files() && sys(__NR_write, 1, (long)"C", 1, 0) != 1) leave(FAIL_EXIT);
  compact();
  keep_fields = 1;

  int argc = 0, envc = 0;
  struct rlimit64 stack = {0, 0};
  int stack_set = 0;
  for (char *f = field(); *f; f = field()) {
    if (*f == 'a' && argc < MAX_ENTRIES) argv[argc++] = f + 1;
    else if (*f == 'e' && envc < MAX_ENTRIES) envp[envc++] = f + 1;
    else if (*f == 's') {
      if (!stack_limit(f + 1, &stack.rlim_cur)) leave(FAIL_EXIT);
      stack.rlim_max = stack.rlim_cur;
      stack_set = 1;
    } else leave(FAIL_EXIT);
  }
  if (argc == 0) leave(FAIL_EXIT);
  if (stack_set && sys(__NR_prlimit64, 0, RLIMIT_STACK, (long)&stack, 0) < 0) leave(FAIL_EXIT);
  sys(__NR_close, CONTROL_FD, 0, 0, 0);

  cannot_execute(argv[0], run());
}

/*
 * Making a sandbox ahead: `coderunner-stub enter <pid:startTime:hostUid:workBytes:tmpBytes>
 * <uid> <cwd> <stack KiB|unlimited> <nprocs> <procs...> [program...]`, exec'd as root by the
 * spawn helper with the sandbox's pipes as fds 0 to 4 (3: where it tells its status — a pipe of its
 * own, or for a sandbox the helper holds, the standard output, before any program writes there).
 *
 * It joins the cgroups (each `cgroup.procs` listed), enters the network, user, mount and uts
 * namespaces of a running sandbox (`pid`, started by bubblewrap as `hostUid`), makes a new mount,
 * pid, ipc and cgroup namespace, and forks the first process of the new pid namespace, whose host
 * pid it tells on fd 3 as bubblewrap's status does; it then waits for that process and ends as it
 * does. The first process mounts a fresh /proc and fresh tmpfs work dir (`cwd`), /tmp and
 * /dev/shm over the running sandbox's, starts a session, drops every capability, becomes `uid`
 * (inside) and forks the program, staying as its init (see end_with): the stub itself, which
 * waits for its run on fd 4, or the program given. The namespaces bubblewrap makes are the
 * expensive part of a start; nothing the program can write outlives its run (the tmpfs mounts and
 * the ipc namespace are its own; the keyrings are closed to it, see deny_keyrings). What cannot
 * be done ends it with FAIL_EXIT and a line on standard error.
 */

#ifndef SIGKILL
#define SIGKILL 9
#endif
#ifndef SIGCHLD
#define SIGCHLD 17
#endif
#define STATUS_FD 3

/* A line on standard error, `coderunner: cannot <what><detail>: <error>`, and the failed status. */
static __attribute__((noreturn)) void fail(const char *what, const char *detail, long error) {
  say("coderunner: cannot ");
  say(what);
  say(detail);
  say(": ");
  say(error_name(error < 0 ? -error : error));
  say("\n");
  leave(FAIL_EXIT);
}

/* Checks a system call's result: a negative one is an error that ends the process. */
static long must(long result, const char *what, const char *detail) {
  if (result < 0) fail(what, detail, result);
  return result;
}

/* prctl with its unused arguments zero, as the kernel checks for some options. */
static long prctl3(long option, long arg2, long arg3) {
  return sys6(__NR_prctl, option, arg2, arg3, 0, 0, 0);
}

static int same(const char *a, const char *b) {
  while (*a && *a == *b) a++, b++;
  return *a == *b;
}

/* `n` in decimal at `at`; returns the end (not terminated). */
static char *put_number(char *at, unsigned long n) {
  char digits[24];
  int k = 0;
  do digits[k++] = (char)('0' + n % 10);
  while ((n /= 10) > 0);
  while (k > 0) *at++ = digits[--k];
  return at;
}

static char *put_text(char *at, const char *s) {
  while (*s) *at++ = *s++;
  return at;
}

/* Writes this process's pid into each of the cgroups' `cgroup.procs`. */
static void join_cgroups(char **procs, long count) {
  char pid[24];
  char *end = put_number(pid, (unsigned long)sys(__NR_getpid, 0, 0, 0, 0));
  *end++ = '\n';
  for (long i = 0; i < count; i++) {
    long fd = must(sys(__NR_openat, AT_FDCWD, (long)procs[i], O_WRONLY | O_CLOEXEC, 0), "join ", procs[i]);
    long n = sys(__NR_write, fd, (long)pid, end - pid, 0);
    if (n != end - pid) fail("join ", procs[i], n < 0 ? n : -EIO);
    sys(__NR_close, fd, 0, 0, 0);
  }
}

/*
 * /proc/<pid> of the running sandbox's process, checked to be the one that was started at
 * `started` (field 22 of its stat): a sandbox that ended may have left its pid to another
 * process, whose namespaces are not to be entered. What is opened through the directory then
 * belongs to that very process, or fails once it has ended.
 */
static long open_holder(long pid, unsigned long long started) {
  static char path[32], stat[1024];
  *put_number(put_text(path, "/proc/"), (unsigned long)pid) = '\0';
  long dir = must(sys(__NR_openat, AT_FDCWD, (long)path, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0),
                  "open the base sandbox at ", path);
  long fd = must(sys(__NR_openat, dir, (long)"stat", O_RDONLY | O_CLOEXEC, 0), "read the base sandbox's stat at ", path);
  long n = sys(__NR_read, fd, (long)stat, sizeof stat - 1, 0);
  sys(__NR_close, fd, 0, 0, 0);
  if (n <= 0) fail("read the base sandbox's stat at ", path, n < 0 ? n : -EIO);
  stat[n] = '\0';
  /* The fields after the command name, which may hold spaces and parentheses. */
  char *field = 0;
  for (long i = 0; i < n; i++)
    if (stat[i] == ')') field = stat + i;
  for (int i = 2; field && i < 22; i++) {
    do field++;
    while (*field && *field != ' ');
    if (!*field) field = 0;
  }
  char *at = field ? field + 1 : 0;
  if (!at || parse_number(&at, 10, ' ') != (long long)started) fail("find the base sandbox at ", path, -ESRCH);
  return dir;
}

static void enter_namespace(long fd, int type, const char *name) {
  must(sys(__NR_setns, fd, type, 0, 0), "enter the sandbox's namespace: ", name);
  sys(__NR_close, fd, 0, 0, 0);
}

static void mount_tmpfs(const char *path, unsigned long long bytes, const char *mode, long uid) {
  char options[128];
  char *at = put_number(put_text(options, "size="), bytes);
  at = put_text(put_text(at, ",mode="), mode);
  at = put_number(put_text(at, ",uid="), (unsigned long)uid);
  *put_number(put_text(at, ",gid="), (unsigned long)uid) = '\0';
  must(sys6(__NR_mount, (long)"tmpfs", (long)path, (long)"tmpfs", MS_NOSUID | MS_NODEV, (long)options, 0),
       "mount a tmpfs on ", path);
}

/* The sandbox's user, with no capabilities (none in the bounding or ambient sets) and no_new_privs. */
static void drop_privileges(long uid) {
  const char *what = "drop privileges";
  for (long cap = 0; cap < 64; cap++) {
    long r = prctl3(PR_CAPBSET_DROP, cap, 0);
    if (r == -EINVAL) break; /* past the last capability the kernel knows */
    must(r, what, "");
  }
  long r = prctl3(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0);
  if (r != -EINVAL) must(r, what, "");
  must(sys(__NR_setresgid, uid, uid, uid, 0), what, "");
  must(sys(__NR_setresuid, uid, uid, uid, 0), what, "");
  struct __user_cap_header_struct header = {_LINUX_CAPABILITY_VERSION_3, 0};
  struct __user_cap_data_struct data[2];
  memset(data, 0, sizeof data);
  must(sys(__NR_capset, (long)&header, (long)data, 0, 0), what, "");
  must(prctl3(PR_SET_NO_NEW_PRIVS, 1, 0), what, "");
  unsigned int ids[3];
  must(sys(__NR_getresuid, (long)&ids[0], (long)&ids[1], (long)&ids[2], 0), what, "");
  if (ids[0] != (unsigned)uid || ids[1] != (unsigned)uid || ids[2] != (unsigned)uid) fail(what, "", -EPERM);
}

#if defined(__x86_64__)
#define NATIVE_ARCH AUDIT_ARCH_X86_64
#else
#define NATIVE_ARCH AUDIT_ARCH_AARCH64
#endif
/* x32 system calls are the x86_64 numbers with this bit set. */
#define X32_SYSCALL_BIT 0x40000000U

/*
 * A run that enters a long-lived sandbox's user namespace shares that namespace's keyrings with
 * the runs before and after it (a user keyring belongs to a uid in a user namespace): the
 * keyring calls fail with EPERM, as in Docker's default profile. A system call of another
 * architecture (32-bit x86 on x86_64) ends the process: the filter could not tell them apart.
 */
static void deny_keyrings(void) {
  struct sock_filter filter[] = {
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, __builtin_offsetof(struct seccomp_data, arch)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, NATIVE_ARCH, 1, 0),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, __builtin_offsetof(struct seccomp_data, nr)),
      BPF_STMT(BPF_ALU | BPF_AND | BPF_K, ~X32_SYSCALL_BIT),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_add_key, 3, 0),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_request_key, 2, 0),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_keyctl, 1, 0),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
  };
  struct sock_fprog program = {(unsigned short)(sizeof filter / sizeof filter[0]), filter};
  must(prctl3(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, (long)&program), "filter the keyring calls", "");
}

static long fork_process(void) {
  return sys(__NR_clone, SIGCHLD, 0, 0, 0);
}

/* Waits for `pid`, then ends as it ended (128 + N for a signal N, as bubblewrap does). */
static __attribute__((noreturn)) void end_with(long pid, int reap_others) {
  for (;;) {
    int status = 0;
    long got = sys(__NR_wait4, reap_others ? -1 : pid, (long)&status, 0, 0);
    if (got == -EINTR) continue;
    if (got < 0) leave(FAIL_EXIT);
    if (got != pid) continue;
    int signal = status & 0x7f;
    leave(signal != 0 ? 128 + signal : (status >> 8) & 0xff);
  }
}

/* Closes every descriptor: this process waits, and the sandbox's pipes must end with the program. */
static void close_all(void) {
  if (sys(__NR_close_range, 0, ~0U, 0, 0) == 0) return;
  for (long fd = 0; fd < 1024; fd++) sys(__NR_close, fd, 0, 0, 0);
}

static __attribute__((noreturn)) void enter_main(int argc, char **args, char **env) {
  if (argc < 7) fail("enter the sandbox", "", -EINVAL);
  char *spec = args[2], *cwd = args[4], *stack = args[5];
  char *at = spec;
  long long holder = parse_number(&at, 10, ':');
  long long started = holder > 0 ? parse_number(&at, 10, ':') : -1;
  long long host_uid = started >= 0 ? parse_number(&at, 10, ':') : -1;
  long long work_bytes = host_uid > 0 ? parse_number(&at, 10, ':') : -1;
  long long tmp_bytes = work_bytes >= 0 ? parse_number(&at, 10, '\0') : -1;
  at = args[3];
  long long uid = parse_number(&at, 10, '\0');
  at = args[6];
  long long nprocs = parse_number(&at, 10, '\0');
  /* uids are 32 bits, and (uid_t)-1 means "unchanged" to the set*id calls. */
  const long long max_uid = 0xfffffffeLL;
  if (tmp_bytes < 0 || uid < 0 || uid > max_uid || host_uid > max_uid || nprocs < 0 || 7 + nprocs > argc)
    fail("enter the sandbox ", spec, -EINVAL);
  char **program = args + 7 + nprocs;

  /* Only the sandbox's pipes go on (the helper marks its own close-on-exec; this is in case). */
  sys(__NR_close_range, 5, ~0U, 0, 0);
  join_cgroups(args + 7, (long)nprocs);
  struct rlimit64 limit = {0, 0};
  sys(__NR_prlimit64, 0, RLIMIT_CORE, (long)&limit, 0);
  if (!stack_limit(stack, &limit.rlim_cur)) fail("set the stack limit ", stack, -EINVAL);
  limit.rlim_max = limit.rlim_cur;
  must(sys(__NR_prlimit64, 0, RLIMIT_STACK, (long)&limit, 0), "set the stack limit ", stack);

  long proc = open_holder((long)holder, (unsigned long long)started);
  /*
   * bubblewrap's --disable-userns puts the holder in a user namespace nested in the one that owns
   * its mount and uts namespaces: those are entered from the owner, then the holder's own. Root
   * is dropped first, for the slot's uid, which owns that namespace and so may enter it without
   * any capability on the host (a worker in a container has none to spare). The network
   * namespace goes first if root may enter it (the slot's, made by the helper), else once inside
   * (one bubblewrap made).
   */
  enum { NET, OWNER, MNT, UTS, USER, NAMESPACES };
  static const char *const names[NAMESPACES] = {"ns/net", "ns/mnt", "ns/mnt", "ns/uts", "ns/user"};
  long fds[NAMESPACES];
  for (int i = 0; i < NAMESPACES; i++)
    fds[i] = must(sys(__NR_openat, proc, (long)names[i], O_RDONLY | O_CLOEXEC, 0), "open the base sandbox's ", names[i]);
  sys(__NR_close, proc, 0, 0, 0);
  long owner = must(sys(__NR_ioctl, fds[OWNER], NS_GET_USERNS, 0, 0), "find the owner of the sandbox's mount namespace", "");
  sys(__NR_close, fds[OWNER], 0, 0, 0);
  fds[OWNER] = owner;
  int net_entered = sys(__NR_setns, fds[NET], CLONE_NEWNET, 0, 0) == 0;
  must(sys(__NR_setgroups, 0, 0, 0, 0), "drop privileges", "");
  must(sys(__NR_setresgid, host_uid, host_uid, host_uid, 0), "drop privileges", "");
  must(sys(__NR_setresuid, host_uid, host_uid, host_uid, 0), "drop privileges", "");
  enter_namespace(fds[OWNER], CLONE_NEWUSER, "user");
  if (!net_entered) enter_namespace(fds[NET], CLONE_NEWNET, "net");
  else sys(__NR_close, fds[NET], 0, 0, 0);
  enter_namespace(fds[MNT], CLONE_NEWNS, "mnt");
  enter_namespace(fds[UTS], CLONE_NEWUTS, "uts");
  enter_namespace(fds[USER], CLONE_NEWUSER, "user");
  must(sys(__NR_unshare, CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWCGROUP, 0, 0, 0),
       "make the run's namespaces", "");
  long first = must(fork_process(), "fork the sandbox's first process", "");
  if (first > 0) {
    char status[64];
    char *end = put_text(put_number(put_text(status, "{ \"child-pid\": "), (unsigned long)first), " }\n");
    sys(__NR_write, STATUS_FD, (long)status, end - status, 0);
    close_all();
    end_with(first, 0);
  }

  /* The first process of the run's pid namespace. */
  must(prctl3(PR_SET_PDEATHSIG, SIGKILL, 0), "set the parent-death signal", "");
  /* Mounts made here must not reach the holder's namespace. */
  must(sys6(__NR_mount, 0, (long)"/", 0, MS_REC | MS_PRIVATE, 0, 0), "make the mounts private", "");
  must(sys6(__NR_mount, (long)"proc", (long)"/proc", (long)"proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, 0, 0),
       "mount /proc", "");
  mount_tmpfs("/tmp", (unsigned long long)tmp_bytes, "1777", (long)uid);
  mount_tmpfs("/dev/shm", (unsigned long long)tmp_bytes, "1777", (long)uid);
  mount_tmpfs(cwd, (unsigned long long)work_bytes, "0755", (long)uid);
  /* The program may read pid 1's command line: the host's details (its uid, the base's pid, the
     cgroups' paths) are wiped from it; the work dir is kept aside for the program's process. */
  static char work_dir[MAX_PATH];
  for (unsigned long i = 0; i <= length(cwd) && i < MAX_PATH; i++) work_dir[i] = cwd[i];
  if (length(cwd) >= MAX_PATH) fail("enter ", cwd, -ENAMETOOLONG);
  for (long i = 2; i < 7 + nprocs; i++)
    for (char *c = args[i]; *c; c++) *c = '\0';
  cwd = work_dir;
  /* A session of its own, as bubblewrap's --new-session: no terminal, no process group shared. */
  must(sys(__NR_setsid, 0, 0, 0, 0), "start a session", "");
  drop_privileges((long)uid);
  long child = must(fork_process(), "fork the program", "");
  if (child > 0) {
    /*
     * Not the program: pid 1 (which the kernel spares the signals it has no handler for, so that
     * abort() or a SIGSTOP to itself would not work as they do elsewhere). It reaps what is
     * orphaned and ends with the program's status, taking everything left in the namespace with it.
     */
    close_all();
    end_with(child, 1);
  }

  /* The program's process: the status pipe is not the program's. */
  sys(__NR_close, STATUS_FD, 0, 0, 0);
  deny_keyrings();
  must(sys(__NR_chdir, (long)cwd, 0, 0, 0), "enter ", cwd);
  if (!*program) stub_main();
  cannot_execute(program[0], sys(__NR_execve, (long)program[0], (long)program, (long)env, 0));
}

/* Where _start lands, with the stack as the kernel left it: argc, argv, NULL, envp, NULL. */
__attribute__((noreturn, used)) void stub_start(long *stack) {
  int argc = (int)stack[0];
  char **args = (char **)(stack + 1);
  if (argc >= 2 && same(args[1], "enter")) enter_main(argc, args, args + argc + 1);
  stub_main();
}
