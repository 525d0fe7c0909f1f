/*
 * calls: the call benchmark's Extism peer. Calls the export `noop` of a
 * plugin N times through libextism's C API (PyPI extism-sys ships the
 * library, without a header: the declarations below are Extism's
 * extism.h), and prints the calls per second and the 50th and 99th
 * percentile latency in microseconds, as bench-api does.
 *
 *   calls reuse PLUGIN.wasm N   one plugin, called N times (Extism's way:
 *                               its instance lives across calls)
 *   calls fresh PLUGIN.wasm N   a new plugin from the compiled module for
 *                               each call (a fresh instance, as wharf gives)
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct ExtismPlugin ExtismPlugin;
typedef struct ExtismCompiledPlugin ExtismCompiledPlugin;
typedef struct ExtismFunction ExtismFunction;
typedef uint64_t ExtismSize;

ExtismCompiledPlugin *extism_compiled_plugin_new(const uint8_t *wasm, ExtismSize wasm_size,
                                                 const ExtismFunction **functions,
                                                 ExtismSize n_functions, bool with_wasi,
                                                 char **errmsg);
void extism_compiled_plugin_free(ExtismCompiledPlugin *plugin);
ExtismPlugin *extism_plugin_new_from_compiled(const ExtismCompiledPlugin *compiled, char **errmsg);
int32_t extism_plugin_call(ExtismPlugin *plugin, const char *func_name, const uint8_t *data,
                           ExtismSize data_len);
const char *extism_plugin_error(ExtismPlugin *plugin);
void extism_plugin_free(ExtismPlugin *plugin);
const char *extism_version(void);

static double now_us(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e6 + t.tv_nsec / 1e3;
}

static int compare(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void call(ExtismPlugin *plugin) {
    if (extism_plugin_call(plugin, "noop", NULL, 0) != 0) {
        fprintf(stderr, "calls: noop failed: %s\n", extism_plugin_error(plugin));
        exit(1);
    }
}

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: calls reuse|fresh PLUGIN.wasm N\n");
        return 2;
    }
    bool fresh = strcmp(argv[1], "fresh") == 0;
    long count = atol(argv[3]);
    FILE *file = fopen(argv[2], "rb");
    if (!file) {
        perror(argv[2]);
        return 1;
    }
    static uint8_t wasm[1 << 20];
    size_t size = fread(wasm, 1, sizeof wasm, file);
    fclose(file);
    char *error = NULL;
    ExtismCompiledPlugin *compiled = extism_compiled_plugin_new(wasm, size, NULL, 0, false, &error);
    if (!compiled) {
        fprintf(stderr, "calls: %s\n", error);
        return 1;
    }
    ExtismPlugin *plugin = fresh ? NULL : extism_plugin_new_from_compiled(compiled, &error);
    if (!fresh && !plugin) {
        fprintf(stderr, "calls: %s\n", error);
        return 1;
    }
    double *each = malloc(sizeof(double) * count);
    double start = 0;
    for (long i = -count / 10; i < count; i++) {
        if (i == 0) start = now_us();
        double before = now_us();
        if (fresh) {
            ExtismPlugin *one = extism_plugin_new_from_compiled(compiled, &error);
            if (!one) {
                fprintf(stderr, "calls: %s\n", error);
                return 1;
            }
            call(one);
            extism_plugin_free(one);
        } else {
            call(plugin);
        }
        if (i >= 0) each[i] = now_us() - before;
    }
    double total = now_us() - start;
    qsort(each, count, sizeof(double), compare);
    printf("{\"calls_per_s\": %.1f, \"p50_us\": %.2f, \"p99_us\": %.2f, \"calls\": %ld, \"extism\": \"%s\"}\n",
           count / (total / 1e6), each[count / 2], each[(long)(count * 0.99)], count, extism_version());
    return 0;
}
