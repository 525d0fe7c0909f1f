;; noop for Extism: an export `noop` returning 0, Extism's success.
(module (func (export "noop") (result i32) (i32.const 0)))
