/* A wasi:http/proxy component in C, through wit-bindgen's C bindings
 * (bindings/, generated from ../wit by wit-bindgen 0.63.0: `wit-bindgen c
 * ../wit --world hello --out-dir bindings`). Built as a WASI reactor and
 * made a component with the preview 1 reactor adapter. One route per
 * behaviour the tests check. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bindings/hello.h"

typedef wasi_http_types_own_outgoing_body_t body_t;

/* A response with `status` and one header, set on `out`; returns its body. */
static body_t respond(exports_wasi_http_incoming_handler_own_response_outparam_t out,
                      int status, const char *type) {
    wasi_http_types_field_key_t key;
    hello_string_set(&key, "content-type");
    wasi_http_types_tuple2_field_key_field_value_t entry = {
        .f0 = key,
        .f1 = {.ptr = (uint8_t *)type, .len = strlen(type)},
    };
    wasi_http_types_list_tuple2_field_key_field_value_t entries = {.ptr = &entry, .len = 1};
    wasi_http_types_own_fields_t headers;
    wasi_http_types_header_error_t header_error;
    if (!wasi_http_types_static_fields_from_list(&entries, &headers, &header_error)) abort();
    wasi_http_types_own_outgoing_response_t response =
        wasi_http_types_constructor_outgoing_response(headers);
    wasi_http_types_borrow_outgoing_response_t borrowed =
        wasi_http_types_borrow_outgoing_response(response);
    wasi_http_types_method_outgoing_response_set_status_code(borrowed, status);
    body_t body;
    if (!wasi_http_types_method_outgoing_response_body(borrowed, &body)) abort();
    wasi_http_types_result_own_outgoing_response_error_code_t result = {
        .is_err = false, .val = {.ok = response}};
    wasi_http_types_static_response_outparam_set(out, &result);
    return body;
}

static void write_all(wasi_http_types_own_output_stream_t stream, const char *text, size_t len) {
    wasi_io_streams_borrow_output_stream_t borrowed = wasi_io_streams_borrow_output_stream(stream);
    while (len > 0) {
        size_t n = len < 4096 ? len : 4096;
        hello_list_u8_t chunk = {.ptr = (uint8_t *)text, .len = n};
        wasi_io_streams_stream_error_t error;
        if (!wasi_io_streams_method_output_stream_blocking_write_and_flush(borrowed, &chunk, &error))
            return;
        text += n;
        len -= n;
    }
}

static void finish(body_t body, wasi_http_types_own_output_stream_t stream) {
    wasi_io_streams_output_stream_drop_own(stream);
    wasi_http_types_error_code_t error;
    wasi_http_types_static_outgoing_body_finish(body, NULL, &error);
}

void exports_wasi_http_incoming_handler_handle(
    exports_wasi_http_incoming_handler_own_incoming_request_t request,
    exports_wasi_http_incoming_handler_own_response_outparam_t out) {
    hello_string_t path_string = {0};
    wasi_http_types_method_incoming_request_path_with_query(
        wasi_http_types_borrow_incoming_request(request), &path_string);
    char path[1024] = {0};
    memcpy(path, path_string.ptr, path_string.len < 1023 ? path_string.len : 1023);
    wasi_http_types_incoming_request_drop_own(request);

    if (strcmp(path, "/trap") == 0) __builtin_trap();
    if (strcmp(path, "/loop") == 0) {
        volatile unsigned long n = 0;
        for (;;) n++;
    }
    if (strcmp(path, "/no-response") == 0) {
        wasi_http_types_response_outparam_drop_own(out);
        return;
    }
    body_t body = respond(out, strcmp(path, "/missing") == 0 ? 404 : 200, "text/plain");
    wasi_http_types_own_output_stream_t stream;
    if (!wasi_http_types_method_outgoing_body_write(wasi_http_types_borrow_outgoing_body(body), &stream))
        abort();
    if (strcmp(path, "/stream") == 0) {
        /* Lines a tenth of a second apart. */
        for (int i = 0; i < 5; i++) {
            char line[32];
            int n = snprintf(line, sizeof line, "line %d\n", i);
            write_all(stream, line, n);
            usleep(100000);
        }
    } else if (strcmp(path, "/gate") == 0) {
        /* A line, then nothing until the test makes /gate/open, then the
         * rest. */
        write_all(stream, "before the gate\n", 16);
        for (int i = 0; i < 600; i++) {
            if (access("/gate/open", F_OK) == 0) break;
            usleep(50000);
        }
        write_all(stream, "after the gate\n", 15);
    } else if (strcmp(path, "/half") == 0) {
        write_all(stream, "partial", 7);
        __builtin_trap();
    } else {
        char text[1200];
        int n = snprintf(text, sizeof text, "hello from a C component at %s\n", path);
        write_all(stream, text, n);
    }
    finish(body, stream);
}
