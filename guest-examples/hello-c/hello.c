/*
 * hello: a small WASI command for trying wharf's sandbox.
 *
 * It greets, prints its arguments and environment, then acts on options in
 * order:
 *   --ls DIR            list a directory (sorted)
 *   --cat FILE          print a file
 *   --write FILE TEXT   create or replace FILE with TEXT and a newline
 *   --append FILE TEXT  append TEXT and a newline to FILE
 *   --rm FILE           remove a file
 *   --mkdir DIR         create a directory
 *   --exit N            exit with status N
 *   --trap              execute an unreachable instruction
 *   --sleep SECONDS     sleep (blocking in the host)
 *   --spin              compute for ever
 *   --alloc MIB         allocate and touch MIB mebibytes, one at a time
 *   --flood MIB         write MIB mebibytes to stdout
 *   --quiet             skip the greeting, arguments and environment
 *   --pwd               print the working directory
 * Every failure is reported on stderr with errno's text, and the program
 * goes on; the exit status is 1 if anything failed.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

extern char **environ;

static int failed = 0;

static void fail(const char *what, const char *path) {
    fprintf(stderr, "hello: %s %s: %s\n", what, path, strerror(errno));
    failed = 1;
}

static int compare(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void list(const char *path) {
    DIR *dir = opendir(path);
    if (!dir) {
        fail("cannot list", path);
        return;
    }
    char *names[1024];
    int count = 0;
    struct dirent *entry;
    while ((entry = readdir(dir)) != NULL && count < 1024) {
        if (strcmp(entry->d_name, ".") == 0 || strcmp(entry->d_name, "..") == 0) continue;
        names[count++] = strdup(entry->d_name);
    }
    closedir(dir);
    qsort(names, count, sizeof names[0], compare);
    printf("%s:\n", path);
    for (int i = 0; i < count; i++) {
        printf("  %s\n", names[i]);
        free(names[i]);
    }
}

static void cat(const char *path) {
    FILE *file = fopen(path, "r");
    if (!file) {
        fail("cannot read", path);
        return;
    }
    char buffer[4096];
    size_t n;
    while ((n = fread(buffer, 1, sizeof buffer, file)) > 0) fwrite(buffer, 1, n, stdout);
    fclose(file);
}

static void put(const char *path, const char *text, const char *mode) {
    FILE *file = fopen(path, mode);
    if (!file) {
        fail("cannot write", path);
        return;
    }
    if (fprintf(file, "%s\n", text) < 0 || fclose(file) != 0) fail("cannot write", path);
}

static char *volatile blocks[4096];

static void alloc(long mib) {
    long total = 0;
    for (long i = 0; i < mib && i < 4096; i++) {
        blocks[i] = malloc(1 << 20);
        if (!blocks[i]) {
            fprintf(stderr, "hello: out of memory after %ld MiB\n", i);
            failed = 1;
            return;
        }
        memset(blocks[i], (int)i, 1 << 20);
        total += blocks[i][i % (1 << 20)];
    }
    printf("allocated %ld MiB (checksum %ld)\n", mib, total);
}

static void flood(long mib) {
    static char line[1024];
    memset(line, 'x', sizeof line - 1);
    line[sizeof line - 1] = '\n';
    for (long i = 0; i < mib * 1024; i++) fwrite(line, 1, sizeof line, stdout);
}

int main(int argc, char **argv) {
    /* WASI programs start in `/`; wharf names the run's working directory
     * in PWD, as a shell does. Start there. */
    const char *pwd = getenv("PWD");
    if (pwd && chdir(pwd) != 0) fail("cannot enter", pwd);

    int quiet = 0;
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--quiet") == 0) quiet = 1;

    if (!quiet) {
        printf("Hello from C in a wharf sandbox!\n");
        for (int i = 0; i < argc; i++) printf("argv[%d]=%s\n", i, argv[i]);
        for (char **e = environ; *e; e++) printf("env %s\n", *e);
    }

    for (int i = 1; i < argc; i++) {
        const char *opt = argv[i];
        int has1 = i + 1 < argc, has2 = i + 2 < argc;
        if (strcmp(opt, "--ls") == 0 && has1) {
            list(argv[++i]);
        } else if (strcmp(opt, "--pwd") == 0) {
            char cwd[4096];
            if (getcwd(cwd, sizeof cwd)) printf("%s\n", cwd);
            else fail("cannot get", "the working directory");
        } else if (strcmp(opt, "--cat") == 0 && has1) {
            cat(argv[++i]);
        } else if (strcmp(opt, "--write") == 0 && has2) {
            put(argv[i + 1], argv[i + 2], "w");
            i += 2;
        } else if (strcmp(opt, "--append") == 0 && has2) {
            put(argv[i + 1], argv[i + 2], "a");
            i += 2;
        } else if (strcmp(opt, "--rm") == 0 && has1) {
            if (unlink(argv[++i]) != 0) fail("cannot remove", argv[i]);
        } else if (strcmp(opt, "--mkdir") == 0 && has1) {
            if (mkdir(argv[++i], 0755) != 0) fail("cannot create directory", argv[i]);
        } else if (strcmp(opt, "--exit") == 0 && has1) {
            fflush(stdout);
            exit(atoi(argv[++i]));
        } else if (strcmp(opt, "--trap") == 0) {
            fflush(stdout);
            __builtin_trap();
        } else if (strcmp(opt, "--sleep") == 0 && has1) {
            fflush(stdout);
            sleep((unsigned)atoi(argv[++i]));
        } else if (strcmp(opt, "--spin") == 0) {
            fflush(stdout);
            for (volatile unsigned long n = 0;; n++) {
            }
        } else if (strcmp(opt, "--alloc") == 0 && has1) {
            alloc(atol(argv[++i]));
        } else if (strcmp(opt, "--flood") == 0 && has1) {
            flood(atol(argv[++i]));
        }
    }
    return failed;
}
