;; cgi: a CGI script (RFC 3875) that shows what it was given: a CGI header,
;; then each environment variable on a line, a line "--", and stdin (the
;; request body) copied until end of file.
(module
  (import "wasi_snapshot_preview1" "environ_sizes_get" (func $env_sizes (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "environ_get" (func $env_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_read" (func $fd_read (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  ;; 0: an iovec and a count; 32: "\n"; 100: the header; 200: "--\n";
  ;; 2048: variable pointers; 8192: variables; 65536: the stdin buffer.
  (memory (export "memory") 2)
  (data (i32.const 32) "\n")
  (data (i32.const 100) "Status: 201 Created\nContent-Type: text/plain\n\n")
  (data (i32.const 200) "--\n")
  (func $write (param $fd i32) (param $ptr i32) (param $len i32)
    (i32.store (i32.const 0) (local.get $ptr))
    (i32.store (i32.const 4) (local.get $len))
    (drop (call $fd_write (local.get $fd) (i32.const 0) (i32.const 1) (i32.const 8))))
  (func $strlen (param $p i32) (result i32) (local $n i32)
    (block $end (loop $next
      (br_if $end (i32.eqz (i32.load8_u (i32.add (local.get $p) (local.get $n)))))
      (local.set $n (i32.add (local.get $n) (i32.const 1)))
      (br $next)))
    (local.get $n))
  (func $lines (param $fd i32) (param $ptrs i32) (param $count i32) (local $i i32) (local $p i32)
    (block $end (loop $next
      (br_if $end (i32.ge_u (local.get $i) (local.get $count)))
      (local.set $p (i32.load (i32.add (local.get $ptrs) (i32.mul (local.get $i) (i32.const 4)))))
      (call $write (local.get $fd) (local.get $p) (call $strlen (local.get $p)))
      (call $write (local.get $fd) (i32.const 32) (i32.const 1))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $next))))
  (func (export "_start") (local $n i32)
    (call $write (i32.const 1) (i32.const 100) (i32.const 46))
    (drop (call $env_sizes (i32.const 16) (i32.const 20)))
    (drop (call $env_get (i32.const 2048) (i32.const 8192)))
    (call $lines (i32.const 1) (i32.const 2048) (i32.load (i32.const 16)))
    (call $write (i32.const 1) (i32.const 200) (i32.const 3))
    (block $eof (loop $more
      (i32.store (i32.const 40) (i32.const 65536))
      (i32.store (i32.const 44) (i32.const 65536))
      (br_if $eof (i32.ne (call $fd_read (i32.const 0) (i32.const 40) (i32.const 1) (i32.const 48)) (i32.const 0)))
      (local.set $n (i32.load (i32.const 48)))
      (br_if $eof (i32.eqz (local.get $n)))
      (call $write (i32.const 1) (i32.const 65536) (local.get $n))
      (br $more)))))
