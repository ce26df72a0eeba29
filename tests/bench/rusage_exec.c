/*
 * tests/bench/rusage_exec.c - run a command and report its own rusage.
 *
 *   rusage_exec FD CMD [ARGS...]
 *
 * Forks, execs CMD (stdin/stdout/stderr inherited), waits for it with wait4
 * and writes "exit user_s sys_s maxrss_kib wall_s\n" to file descriptor FD
 * (closed in CMD), then exits with CMD's status (128+signal if killed).
 *
 * Why not os.wait4 on a child of Python directly: Linux carries the RSS
 * high-water mark of the address space a process had before execve into
 * its ru_maxrss, and Python spawns children with vfork, so every child
 * would report at least bench.py's own peak RSS.  Forked from this small
 * program, the command's ru_maxrss is its own (plus about 1 MiB).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double tv(struct timeval t)
{
	return (double)t.tv_sec + (double)t.tv_usec / 1e6;
}

int main(int argc, char **argv)
{
	struct timespec t0, t1;
	struct rusage ru;
	int fd, status, code;
	pid_t pid;
	char line[256];
	int n;

	if (argc < 3) {
		fprintf(stderr, "usage: rusage_exec FD CMD [ARGS...]\n");
		return 125;
	}
	fd = atoi(argv[1]);
	if (fcntl(fd, F_SETFD, FD_CLOEXEC) < 0) {
		fprintf(stderr, "rusage_exec: bad fd %s: %s\n", argv[1], strerror(errno));
		return 125;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	pid = fork();
	if (pid < 0) {
		fprintf(stderr, "rusage_exec: fork: %s\n", strerror(errno));
		return 125;
	}
	if (pid == 0) {
		execvp(argv[2], argv + 2);
		fprintf(stderr, "rusage_exec: cannot run %s: %s\n", argv[2], strerror(errno));
		_exit(127);
	}
	while (wait4(pid, &status, 0, &ru) < 0) {
		if (errno != EINTR) {
			fprintf(stderr, "rusage_exec: wait4: %s\n", strerror(errno));
			return 125;
		}
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
	n = snprintf(line, sizeof(line), "%d %.6f %.6f %ld %.6f\n", code, tv(ru.ru_utime),
		     tv(ru.ru_stime), ru.ru_maxrss,
		     (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
	if (write(fd, line, (size_t)n) != n)
		return 125;
	return code;
}
