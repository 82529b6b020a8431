/* launch.c - memdive-launch: run a command as /usr/bin/time does, for `memdive faults -- CMD`.
 *
 *   memdive-launch FD CMD ARGS...
 *
 * Why a separate small program: a process's peak RSS (ru_maxrss) is kept across exec(), and a child
 * forked from memdive's Python starts with the parent's RSS (its page tables map the same pages), so
 * the command's own peak would never show below memdive's 15-90 MB. Forked from this program instead,
 * the command starts from a few hundred kilobytes, as under /usr/bin/time.
 *
 * Writes to FD (a pipe from memdive, closed in the command):
 *   "pid N\n"                                     once the command is forked
 *   "exec-error ERRNO\n"                          if CMD could not be run (from the child; exit 127)
 *   "exit STATUS maxrss KB minflt N majflt N utime_us N stime_us N\n"   when it ends (wait4's rusage)
 * and exits with the command's status (128 + signal when a signal ended it), as time(1) does.
 * SIGINT and SIGQUIT are ignored while the command runs (they reach it from the terminal); SIGTERM
 * and SIGHUP are passed on to it (its PID cannot be reused before this program has reaped it).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile pid_t child;

static void pass_on(int sig) {
    if (child > 0) kill(child, sig);
}

static void say(int fd, const char *s) {
    size_t n = strlen(s);
    while (n) {
        ssize_t w = write(fd, s, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return;
        s += w;
        n -= (size_t)w;
    }
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: memdive-launch FD CMD [ARGS...]\n");
        return 2;
    }
    char *end;
    long fd = strtol(argv[1], &end, 10);
    if (*end || fd < 0 || fd > 1 << 20 || fcntl((int)fd, F_SETFD, FD_CLOEXEC) != 0) {
        fprintf(stderr, "memdive-launch: bad descriptor %s\n", argv[1]);
        return 2;
    }
    char line[256];
    pid_t pid = fork();
    if (pid < 0) {
        snprintf(line, sizeof line, "exec-error %d\n", errno);
        say((int)fd, line);
        return 127;
    }
    if (pid == 0) {
        execvp(argv[2], argv + 2);
        snprintf(line, sizeof line, "exec-error %d\n", errno);
        say((int)fd, line);
        _exit(127);
    }
    child = pid;
    signal(SIGINT, SIG_IGN);
    signal(SIGQUIT, SIG_IGN);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = pass_on;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    snprintf(line, sizeof line, "pid %d\n", (int)pid);
    say((int)fd, line);
    int status;
    struct rusage ru;
    while (wait4(pid, &status, 0, &ru) < 0)
        if (errno != EINTR) return 127;
    snprintf(line, sizeof line, "exit %d maxrss %ld minflt %ld majflt %ld utime_us %lld stime_us %lld\n", status,
             ru.ru_maxrss, ru.ru_minflt, ru.ru_majflt,
             (long long)ru.ru_utime.tv_sec * 1000000 + ru.ru_utime.tv_usec,
             (long long)ru.ru_stime.tv_sec * 1000000 + ru.ru_stime.tv_usec);
    say((int)fd, line);
    if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 127;
}
