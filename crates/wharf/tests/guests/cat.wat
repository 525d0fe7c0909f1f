;; cat: copies the file `/data/input.txt` to stdout, and creates
;; `/data/output.txt` with `written` in it, through the one directory it is
;; handed, `/` (file descriptor 3); exits 1 if it cannot open the first, 2
;; if it cannot create the second.
(module
  (import "wasi_snapshot_preview1" "path_open"
    (func $path_open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_read" (func $fd_read (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  ;; 0: an iovec; 8: a count; 12: an opened descriptor; 64: names and text;
  ;; 1024: the read buffer.
  (memory (export "memory") 1)
  (data (i32.const 64) "data/input.txt")
  (data (i32.const 80) "data/output.txt")
  (data (i32.const 96) "written")
  (func (export "_start") (local $fd i32) (local $n i32)
    ;; rights: fd_read (2)
    (if (call $path_open (i32.const 3) (i32.const 0) (i32.const 64) (i32.const 14)
          (i32.const 0) (i64.const 2) (i64.const 0) (i32.const 0) (i32.const 12))
      (then (call $exit (i32.const 1))))
    (local.set $fd (i32.load (i32.const 12)))
    (i32.store (i32.const 0) (i32.const 1024))
    (i32.store (i32.const 4) (i32.const 4096))
    (drop (call $fd_read (local.get $fd) (i32.const 0) (i32.const 1) (i32.const 8)))
    (i32.store (i32.const 4) (i32.load (i32.const 8)))
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))
    ;; oflags: creat (1) | trunc (8); rights: fd_write (64)
    (if (call $path_open (i32.const 3) (i32.const 0) (i32.const 80) (i32.const 15)
          (i32.const 9) (i64.const 64) (i64.const 0) (i32.const 0) (i32.const 12))
      (then (call $exit (i32.const 2))))
    (i32.store (i32.const 0) (i32.const 96))
    (i32.store (i32.const 4) (i32.const 7))
    (drop (call $fd_write (i32.load (i32.const 12)) (i32.const 0) (i32.const 1) (i32.const 8)))))
