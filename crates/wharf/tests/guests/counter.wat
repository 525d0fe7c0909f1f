;; counter: adds one to a global and to a byte of memory, and exits with
;; ten times the global plus the byte. A fresh instance exits with 11;
;; one that kept state from an earlier call would exit with more.
(module
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  (global $count (mut i32) (i32.const 0))
  (func (export "_start")
    (global.set $count (i32.add (global.get $count) (i32.const 1)))
    (i32.store8 (i32.const 100) (i32.add (i32.load8_u (i32.const 100)) (i32.const 1)))
    (call $exit (i32.add (i32.mul (global.get $count) (i32.const 10)) (i32.load8_u (i32.const 100))))))
