/* A CGI program (RFC 3875) for the tests of `wharf serve`: one route per
 * behaviour a server must handle, well-behaved and hostile. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>

extern char **environ;

static const char *var(const char *name) {
    const char *value = getenv(name);
    return value ? value : "";
}

static int route(const char *path) { return strcmp(var("PATH_INFO"), path) == 0; }

int main(void) {
    if (route("/env")) {
        /* Every meta-variable, sorted by the test. */
        printf("Content-Type: text/plain\r\n\r\n");
        for (char **e = environ; *e; e++) printf("%s\n", *e);
        return 0;
    }
    if (route("/echo")) {
        /* The body back, with its length as the server said it. */
        long length = atol(var("CONTENT_LENGTH"));
        printf("Content-Type: application/octet-stream\r\nX-Length: %ld\r\n\r\n", length);
        char buf[65536];
        size_t n;
        while ((n = fread(buf, 1, sizeof buf, stdin)) > 0) fwrite(buf, 1, n, stdout);
        return 0;
    }
    if (route("/status")) {
        printf("Status: 418 I'm a teapot\nContent-Type: text/plain\nX-Reply: %s\nSet-Cookie: a=1\nSet-Cookie: b=2\n\nteapot\n",
               var("HTTP_X_ASK"));
        return 0;
    }
    if (route("/redirect")) {
        printf("Location: http://example.test/\n\n");
        return 0;
    }
    if (route("/stream")) {
        /* Lines a tenth of a second apart: the client sees the first
         * before the last is written. */
        printf("Content-Type: text/plain\n\n");
        for (int i = 0; i < 5; i++) {
            printf("line %d\n", i);
            fflush(stdout);
            usleep(100000);
        }
        return 0;
    }
    if (route("/gate")) {
        /* A line, then nothing until the test opens the gate (a file
         * /gate/open in a mounted directory), then the rest: the test
         * decides when the response ends. */
        printf("Content-Type: text/plain\n\nbefore the gate\n");
        fflush(stdout);
        fprintf(stderr, "gate: waiting\n");
        for (int i = 0; i < 600; i++) {
            if (access("/gate/open", F_OK) == 0) break;
            usleep(50000);
        }
        printf("after the gate\n");
        return 0;
    }
    if (route("/tmp-look")) {
        /* What this request's /tmp shows of any other: its modification
         * time and its entries. */
        struct stat st;
        if (stat("/tmp", &st) != 0) return 71;
        int entries = 0;
        DIR *dir = opendir("/tmp");
        if (!dir) return 72;
        struct dirent *e;
        while ((e = readdir(dir)))
            if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) entries++;
        closedir(dir);
        printf("Content-Type: text/plain\n\nmtime=%lld entries=%d\n", (long long)st.st_mtime, entries);
        return 0;
    }
    if (route("/tmp-mark")) {
        /* Leaves marks for a later request: a file made and removed, and
         * /tmp's times set to 1000 s after the epoch. */
        FILE *f = fopen("/tmp/mark", "w");
        if (!f) return 73;
        fclose(f);
        if (unlink("/tmp/mark") != 0) return 74;
        struct timespec times[2] = {{.tv_sec = 1000}, {.tv_sec = 1000}};
        if (utimensat(AT_FDCWD, "/tmp", times, 0) != 0) return 75;
        struct stat st;
        stat("/tmp", &st);
        printf("Content-Type: text/plain\n\nmtime=%lld\n", (long long)st.st_mtime);
        return 0;
    }
    if (route("/tmp-leave")) {
        FILE *f = fopen("/tmp/left", "w");
        if (!f) return 76;
        fputs("secret\n", f);
        fclose(f);
        printf("Content-Type: text/plain\n\nleft\n");
        return 0;
    }
    if (route("/big")) {
        /* 64 MiB, more than any buffer on the way holds. */
        printf("Content-Type: application/octet-stream\n\n");
        static char block[1 << 20];
        memset(block, 'x', sizeof block);
        for (int i = 0; i < 64; i++) fwrite(block, 1, sizeof block, stdout);
        return 0;
    }
    if (route("/loop")) {
        volatile unsigned long n = 0;
        for (;;) n++;
    }
    if (route("/sleep")) {
        sleep(2);
        printf("Content-Type: text/plain\n\nslept\n");
        return 0;
    }
    if (route("/alloc")) {
        /* Kept in a list the compiler cannot see through, so that the
         * allocations are not optimised away. */
        static char *volatile kept[1 << 16];
        for (int i = 0;; i = (i + 1) % (1 << 16)) {
            char *p = malloc(1 << 20);
            if (!p) return 70;
            memset(p, 1, 1 << 20);
            kept[i] = p;
        }
    }
    if (route("/trap")) {
        __builtin_trap();
    }
    if (route("/exit")) {
        fprintf(stderr, "failing on purpose\n");
        return 3;
    }
    if (route("/malformed")) {
        printf("this is not a header\n\nbody\n");
        return 0;
    }
    if (route("/silent")) {
        return 0;
    }
    if (route("/half")) {
        /* A head and part of a body, then a trap. */
        printf("Content-Type: text/plain\n\npartial");
        fflush(stdout);
        __builtin_trap();
    }
    printf("Content-Type: text/plain\n\nhello from CGI at %s\n", var("PATH_INFO"));
    return 0;
}
