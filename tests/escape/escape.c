/*
 * escape: a hostile guest that tries every way out of wharf's sandbox it
 * knows, and reports each attempt on stdout:
 *
 *   ok NAME                the sandbox held
 *   ESCAPE NAME: DETAIL    the attempt got through
 *
 * The host test arranges its mounts (see tests/e2e/escape.rs) and then
 * checks, on the host, that nothing outside them changed: a line saying
 * "ok" is not taken on trust.
 *
 * Usage: escape SECRET_HOST_PATH [RACE_ROUNDS]
 *   /data  a writable mount holding host-made symlinks that point outside
 *   /ro    a read-only mount holding readonly.txt
 *   SECRET_HOST_PATH  where the victim's secret.txt is on the host
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <wasi/api.h>

#define SECRET "TOP-SECRET"

static int escapes = 0;

static void report(int escaped, const char *name, const char *detail) {
    if (escaped) {
        printf("ESCAPE %s: %s\n", name, detail);
        escapes++;
    } else {
        printf("ok %s\n", name);
    }
}

/* Whether PATH can be read and holds the secret. */
static int reads_secret(const char *path) {
    int fd = open(path, O_RDONLY);
    if (fd < 0) return 0;
    char buffer[64] = {0};
    ssize_t n = read(fd, buffer, sizeof buffer - 1);
    close(fd);
    return n > 0 && strstr(buffer, SECRET) != NULL;
}

/* Whether a file could be created (or appended to) at PATH. */
static int writes(const char *path) {
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd < 0) return 0;
    ssize_t n = write(fd, "pwned\n", 6);
    close(fd);
    return n == 6;
}

static void try_read(const char *name, const char *path) {
    report(reads_secret(path), name, path);
}

/* Writing outside must fail; the host also checks that nothing appeared. */
static void try_write_outside(const char *name, const char *path) {
    report(writes(path), name, path);
}

static int lists_host_parent(const char *path) {
    DIR *dir = opendir(path);
    if (!dir) return 0;
    struct dirent *entry;
    int found = 0;
    while ((entry = readdir(dir)) != NULL)
        if (strcmp(entry->d_name, "victim") == 0) found = 1;
    closedir(dir);
    return found;
}

static void dot_dot(void) {
    try_read("dotdot-root", "/../victim/secret.txt");
    try_read("dotdot-root-deep", "/../../../../../../victim/secret.txt");
    try_read("dotdot-mount", "/data/../victim/secret.txt");
    try_read("dotdot-mount-deep", "/data/../../victim/secret.txt");
    try_read("dotdot-ro", "/ro/../victim/secret.txt");
    try_read("dotdot-tmp", "/tmp/../victim/secret.txt");
    try_read("dotdot-relative", "../victim/secret.txt");
    try_read("dotdot-inner", "/data/sub/../../victim/secret.txt");
    try_write_outside("dotdot-write-mount", "/data/../victim/pwned");
    try_write_outside("dotdot-write-tmp", "/tmp/../../pwned");
    report(lists_host_parent("/data/.."), "dotdot-list-mount-parent", "/data/..");
    report(lists_host_parent("/.."), "dotdot-list-root-parent", "/..");
}

static void absolute_host_path(const char *secret_host_path) {
    try_read("absolute-host-path", secret_host_path);
    try_read("absolute-etc-passwd", "/etc/passwd");
    report(reads_secret("/proc/self/environ"), "absolute-proc", "/proc/self/environ");
}

static void host_symlinks(void) {
    try_read("host-symlink-relative-dir", "/data/host-rel-link/secret.txt");
    try_read("host-symlink-absolute-dir", "/data/host-abs-link/secret.txt");
    try_read("host-symlink-file", "/data/host-file-link");
    try_write_outside("host-symlink-write", "/data/host-rel-link/pwned");
    report(mkdir("/data/host-rel-link/newdir", 0755) == 0, "host-symlink-mkdir", "/data/host-rel-link/newdir");
    try_write_outside("host-symlink-dangling-create", "/data/host-dangling-link");
}

static void guest_symlinks(void) {
    /* A link may not climb above its own directory: a chain of links that
     * each look harmless could (s/d -> .., s/x -> d/..). */
    report(symlink("../victim", "/data/g-rel") == 0, "guest-symlink-climbs", "/data/g-rel -> ../victim");
    mkdir("/data/s", 0755);
    report(symlink("..", "/data/s/d") == 0, "guest-symlink-chain-climbs", "/data/s/d -> ..");
    symlink("d/..", "/data/s/x"); /* stays home: made (the host checks) */
    try_read("guest-symlink-chain-of-harmless", "/data/s/x/../victim/secret.txt");
    report(symlink("../../victim", "/tmp/g-tmp") == 0, "guest-symlink-climbs-tmp", "/tmp/g-tmp -> ../../victim");
    try_read("guest-symlink-relative", "/data/g-rel/secret.txt");
    try_write_outside("guest-symlink-write", "/data/g-rel/pwned");
    report(symlink("/", "/data/g-abs") == 0 && reads_secret("/data/g-abs/victim/secret.txt"),
           "guest-symlink-absolute", "/data/g-abs -> /");
    symlink("../../../../../../..", "/data/g-up");
    try_read("guest-symlink-up", "/data/g-up/victim/secret.txt");
    /* Refused; were it made, writing through it must still not escape. */
    if (symlink("../victim/created-through-dangling", "/data/g-dangling") == 0)
        try_write_outside("guest-symlink-dangling-create", "/data/g-dangling");
    else
        report(0, "guest-symlink-dangling-create", "/data/g-dangling");
    /* A chain: inner -> inner2 -> outside. */
    symlink("chain-2", "/data/chain-1");
    symlink("../victim/secret.txt", "/data/chain-2");
    try_read("guest-symlink-chain", "/data/chain-1");
}

static void looping_symlinks(void) {
    symlink("loop-b", "/data/loop-a");
    symlink("loop-a", "/data/loop-b");
    int fd = open("/data/loop-a", O_RDONLY);
    report(fd >= 0, "symlink-loop-open", "/data/loop-a");
    if (fd >= 0) close(fd);
    report(writes("/data/loop-a/x"), "symlink-loop-write", "/data/loop-a/x");
}

static void trailing_slash(void) {
    /* GHSA-vqjp-4c8c-hfgg: symlinks and paths with trailing slashes. */
    symlink("../victim/", "/data/evil");
    try_read("trailing-slash-read", "/data/evil/secret.txt");
    report(lists_host_parent("/data/evil/../"), "trailing-slash-list", "/data/evil/../");
    try_write_outside("trailing-slash-write", "/data/evil/pwned");
    report(mkdir("/data/evil/newdir/", 0755) == 0, "trailing-slash-mkdir", "/data/evil/newdir/");
    struct stat st;
    report(stat("/data/evil/", &st) == 0 && S_ISDIR(st.st_mode) && lists_host_parent("/data/evil/.."),
           "trailing-slash-stat", "/data/evil/");
    try_read("trailing-slash-host-link", "/data/host-evil/secret.txt");
    try_write_outside("trailing-slash-host-link-write", "/data/host-evil/pwned");
    report(rename("/data/file.txt", "/data/evil/") == 0, "trailing-slash-rename", "/data/evil/");
    symlink("../victim/secret.txt/", "/data/evil-file");
    try_read("trailing-slash-file", "/data/evil-file");
}

static void read_only_mount(void) {
    /* GHSA-4ch3-9j33-3pmj: a read-write directory used to reach files of a
     * read-only one. */
    if (link("/ro/readonly.txt", "/data/hard") == 0) {
        report(writes("/data/hard"), "hardlink-from-ro-then-write", "/data/hard");
    } else {
        report(0, "hardlink-from-ro-then-write", "/data/hard");
    }
    report(link("/data/file.txt", "/ro/hard") == 0, "hardlink-into-ro", "/ro/hard");
    report(rename("/data/file.txt", "/ro/moved") == 0, "rename-into-ro", "/ro/moved");
    report(rename("/ro/readonly.txt", "/data/stolen") == 0, "rename-out-of-ro", "/data/stolen");
    report(unlink("/ro/readonly.txt") == 0, "unlink-ro", "/ro/readonly.txt");
    report(writes("/ro/readonly.txt"), "write-ro", "/ro/readonly.txt");
    report(writes("/ro/new.txt"), "create-ro", "/ro/new.txt");
    report(mkdir("/ro/dir", 0755) == 0, "mkdir-ro", "/ro/dir");
    report(symlink("readonly.txt", "/ro/link") == 0, "symlink-in-ro", "/ro/link");
    /* GHSA-2r75-cxrj-cmph: O_TRUNC on a read-only file. */
    int fd = open("/ro/readonly.txt", O_RDONLY | O_TRUNC);
    if (fd >= 0) close(fd);
    struct stat st;
    report(stat("/ro/readonly.txt", &st) == 0 && st.st_size == 0, "truncate-ro", "/ro/readonly.txt");
    report(truncate("/ro/readonly.txt", 0) == 0, "truncate-call-ro", "/ro/readonly.txt");
}

static void image_root(void) {
    report(writes("/new-file"), "image-create", "/new-file");
    report(mkdir("/new-dir", 0755) == 0, "image-mkdir", "/new-dir");
    report(writes("/usr/bin/escape.wasm"), "image-append", "/usr/bin/escape.wasm");
    report(unlink("/usr/bin/escape.wasm") == 0, "image-unlink", "/usr/bin/escape.wasm");
    report(rename("/usr/bin/escape.wasm", "/usr/bin/moved.wasm") == 0, "image-rename", "/usr/bin/escape.wasm");
    report(symlink("escape.wasm", "/usr/bin/link") == 0, "image-symlink", "/usr/bin/link");
    report(link("/usr/bin/escape.wasm", "/data/image-hard") == 0 && writes("/data/image-hard"),
           "image-hardlink-then-write", "/data/image-hard");
    int fd = open("/usr/bin/escape.wasm", O_RDONLY | O_TRUNC);
    if (fd >= 0) close(fd);
    struct stat st;
    report(stat("/usr/bin/escape.wasm", &st) == 0 && st.st_size == 0, "image-truncate", "/usr/bin/escape.wasm");
}

static void device_names(void) {
    /* On Windows these names are devices; anywhere, the files they make
     * must stay inside the mount (the host checks). */
    const char *names[] = {"/data/CON", "/data/COM1", "/data/COM\xc2\xb9", "/data/NUL.txt", "/data/aux", "/data/LPT1"};
    for (unsigned i = 0; i < sizeof names / sizeof names[0]; i++) {
        writes(names[i]);
        report(0, "device-name", names[i]);
    }
}

static void environment(void) {
    report(getenv("WHARF_ESCAPE_SECRET") != NULL, "env-host-variable", "WHARF_ESCAPE_SECRET");
    report(getenv("HOME") != NULL, "env-host-home", "HOME");
}

static void preopens(void) {
    for (__wasi_fd_t fd = 3; fd < 256; fd++) {
        __wasi_prestat_t prestat;
        if (__wasi_fd_prestat_get(fd, &prestat) != 0) continue;
        char name[256] = {0};
        if (prestat.u.dir.pr_name_len < sizeof name)
            __wasi_fd_prestat_dir_name(fd, (uint8_t *)name, prestat.u.dir.pr_name_len);
        printf("preopen %s\n", name);
    }
    /* Beyond stdio and the preopen `/`, the only descriptors are the
     * run's other directories (reached through `/`): no file, nothing of
     * the host's. The host checks how many there are. */
    int stray = 0, hidden = 0;
    for (__wasi_fd_t fd = 3; fd < 1024; fd++) {
        __wasi_fdstat_t stat;
        __wasi_prestat_t prestat;
        if (__wasi_fd_fdstat_get(fd, &stat) != 0 || __wasi_fd_prestat_get(fd, &prestat) == 0) continue;
        if (stat.fs_filetype == __WASI_FILETYPE_DIRECTORY) hidden++;
        else stray++;
    }
    printf("hidden directories %d\n", hidden);
    report(stray != 0, "stray-descriptors", "fd 3..1024");
}

static void swap_race(int rounds) {
    /* The host swaps /data/race/target between a file and a symlink to the
     * secret while this loop reads and writes it. */
    int leaked = 0;
    for (int i = 0; i < rounds; i++) {
        if (reads_secret("/data/race/target")) leaked = 1;
        int fd = open("/data/race/target", O_WRONLY | O_APPEND);
        if (fd >= 0) {
            write(fd, "pwned\n", 6);
            close(fd);
        }
    }
    report(leaked, "swap-race", "/data/race/target");
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: escape SECRET_HOST_PATH [RACE_ROUNDS]\n");
        return 2;
    }
    int rounds = argc > 2 ? atoi(argv[2]) : 2000;
    preopens();
    environment();
    dot_dot();
    absolute_host_path(argv[1]);
    host_symlinks();
    guest_symlinks();
    looping_symlinks();
    trailing_slash();
    read_only_mount();
    image_root();
    device_names();
    swap_race(rounds);
    printf("escapes %d\n", escapes);
    return escapes == 0 ? 0 : 1;
}
