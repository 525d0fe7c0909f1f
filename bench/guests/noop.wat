;; noop: the trivial plugin of the call benchmark, a WASI command that
;; returns at once.
(module (func (export "_start")))
