/*
 * peak: runs a command and prints its peak resident memory (KiB) on
 * stderr. The benchmark measures memory through this small static program
 * rather than from Python: a child's peak counts the memory of the process
 * it was forked from, and this one has next to none.
 */
#include <stdio.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
int main(int argc, char **argv) {
    pid_t pid = fork();
    if (pid == 0) { execvp(argv[1], argv + 1); _exit(127); }
    int status; struct rusage usage;
    wait4(pid, &status, 0, &usage);
    fprintf(stderr, "%ld\n", usage.ru_maxrss);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}
