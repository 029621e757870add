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
 */
#include <asm/unistd.h>
#include <linux/errno.h>
#include <linux/fcntl.h>
#include <linux/resource.h>

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
__asm__(".text\n.global _start\n_start:\n xor %rbp, %rbp\n and $-16, %rsp\n call stub_main\n hlt\n");
#else
__asm__(".text\n.global _start\n_start:\n mov x29, #0\n mov x30, #0\n bl stub_main\n brk #0\n");
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

/* A number in `base` up to the character `end`; moves `s` past it. */
static unsigned long number(char **s, unsigned base, char end) {
  unsigned long n = 0;
  if (**s == end) leave(FAIL_EXIT);
  for (; **s != end; (*s)++) {
    unsigned digit = (unsigned)(**s - '0');
    if (digit >= base || n > (~0UL >> 4)) leave(FAIL_EXIT);
    n = n * base + digit;
  }
  (*s)++;
  return n;
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

static unsigned long parse_kib(char *s) {
  unsigned long n = number(&s, 10, '\0');
  if (n > (~0UL >> 10)) leave(FAIL_EXIT);
  return n * 1024;
}

static const char *error_name(long e) {
  switch (e) {
    case ENOENT: return "No such file or directory";
    case EACCES: return "Permission denied";
    case ENOEXEC: return "Exec format error";
    case ENOTDIR: return "Not a directory";
    case E2BIG: return "Argument list too long";
    case ENOMEM: return "Cannot allocate memory";
    case ETXTBSY: return "Text file busy";
    default: return "cannot execute";
  }
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

__attribute__((noreturn, used)) void stub_main(void) {
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
      unsigned long bytes = f[1] == 'u' ? RLIM64_INFINITY : parse_kib(f + 1);
      stack.rlim_cur = stack.rlim_max = bytes;
      stack_set = 1;
    } else leave(FAIL_EXIT);
  }
  if (argc == 0) leave(FAIL_EXIT);
  if (stack_set && sys(__NR_prlimit64, 0, RLIMIT_STACK, (long)&stack, 0) < 0) leave(FAIL_EXIT);
  sys(__NR_close, CONTROL_FD, 0, 0, 0);

  long error = run();
  say("coderunner: cannot execute ");
  say(argv[0]);
  say(": ");
  say(error_name(-error));
  say("\n");
  leave(EXEC_FAILED_EXIT);
}
