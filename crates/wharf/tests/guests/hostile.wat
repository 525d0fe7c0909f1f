;; hostile: misbehaves as its first argument's length says (the arguments
;; are read as sizes only, so that no WASI call is needed to tell them
;; apart): one argument byte spins for ever, two allocate without end,
;; three trap, four recurse without end; none exits 0.
(module
  (import "wasi_snapshot_preview1" "args_sizes_get" (func $args_sizes (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func $down (param i64) (result i64)
    (call $down (i64.add (local.get 0) (i64.const 1))))
  (func (export "_start") (local $bytes i32)
    (drop (call $args_sizes (i32.const 0) (i32.const 4)))
    ;; argv[0] is "hostile" plus its NUL: 8 bytes.
    (local.set $bytes (i32.sub (i32.load (i32.const 4)) (i32.const 8)))
    ;; each argument carries its NUL too.
    (if (i32.eq (local.get $bytes) (i32.const 2)) (then (loop $l (br $l))))
    (if (i32.eq (local.get $bytes) (i32.const 3))
      (then (loop $l (br_if $l (i32.ne (memory.grow (i32.const 16)) (i32.const -1))))))
    (if (i32.eq (local.get $bytes) (i32.const 4)) (then unreachable))
    (if (i32.eq (local.get $bytes) (i32.const 5)) (then (drop (call $down (i64.const 0)))))))
