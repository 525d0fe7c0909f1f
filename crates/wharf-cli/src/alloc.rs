//! The `wharf` command's allocator (feature `prefault-alloc`, Linux): blocks
//! allocated while a compiled module loads get their pages up front.
//!
//! Loading a compiled CPython decodes a few megabytes of tables into fresh
//! blocks, and writes every byte of them. Handed out lazily (as the C
//! library does), each of their pages costs a page fault on first touch,
//! which on a virtual machine adds up to a millisecond of a ten-millisecond
//! run; populated by `mmap` in one call, the same pages cost about half.
//!
//! Only blocks allocated while the library says a module is loading
//! ([`wharf::runtime::alloc_hint`]) are populated. Outside it, wasmtime
//! allocates blocks that it fills on demand (an instance's function
//! references, a table's elements), and populating those would cost more
//! than it saves. Blocks of a middling size are mapped by this allocator
//! either way, so that freeing one never depends on where it was made; small
//! and very large blocks stay with the C library.

#[cfg(target_os = "linux")]
pub use linux::Prefaulting;

#[cfg(target_os = "linux")]
mod linux {
    use std::alloc::{GlobalAlloc, Layout, System};
    use std::ptr;

    use wharf::runtime::alloc_hint;

    /// Blocks from this size up to [`MAX`] are mapped by [`Prefaulting`].
    const MIN: usize = 128 << 10;
    /// See [`MIN`].
    const MAX: usize = 16 << 20;
    /// The page size `mmap` works in (and the largest alignment it gives).
    const PAGE: usize = 4096;

    /// The allocator; see the [module documentation](super).
    pub struct Prefaulting;

    /// Whether a block of this layout is mapped by `Prefaulting` itself.
    /// `dealloc` and `realloc` get the layout the block was allocated
    /// with, so they tell the two kinds apart the same way.
    fn mapped(layout: Layout) -> bool {
        (MIN..=MAX).contains(&layout.size()) && layout.align() <= PAGE
    }

    fn pages(size: usize) -> usize {
        size.div_ceil(PAGE) * PAGE
    }

    /// A fresh private anonymous mapping of `size` bytes (rounded up to
    /// pages), populated inside [`alloc_hint::populating`]; null if the system
    /// has none to give.
    fn map(size: usize) -> *mut u8 {
        let populate = alloc_hint::is_populating();
        let flags =
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | if populate { libc::MAP_POPULATE } else { 0 };
        // SAFETY: a new anonymous mapping; no existing memory involved.
        let block = unsafe {
            libc::mmap(
                ptr::null_mut(),
                pages(size),
                libc::PROT_READ | libc::PROT_WRITE,
                flags,
                -1,
                0,
            )
        };
        if block == libc::MAP_FAILED {
            ptr::null_mut()
        } else {
            block.cast()
        }
    }

    // SAFETY: every block is either the C library's (and goes back to it)
    // or a fresh private anonymous mapping of at least its size, page
    // aligned (which satisfies any alignment up to PAGE), unmapped once.
    unsafe impl GlobalAlloc for Prefaulting {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            if mapped(layout) {
                map(layout.size())
            } else {
                // SAFETY: the caller's contract, passed on.
                unsafe { System.alloc(layout) }
            }
        }

        unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
            if mapped(layout) {
                // Anonymous mappings are zeroed.
                map(layout.size())
            } else {
                // SAFETY: the caller's contract, passed on.
                unsafe { System.alloc_zeroed(layout) }
            }
        }

        unsafe fn dealloc(&self, block: *mut u8, layout: Layout) {
            if mapped(layout) {
                // SAFETY: `block` is a mapping `alloc` (or `realloc`) made
                // for this size, and the caller gives it up.
                unsafe { libc::munmap(block.cast(), pages(layout.size())) };
            } else {
                // SAFETY: the caller's contract, passed on.
                unsafe { System.dealloc(block, layout) }
            }
        }

        unsafe fn realloc(&self, block: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
            // SAFETY: the caller guarantees `new_size` is valid for the
            // alignment.
            let new_layout = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
            match (mapped(layout), mapped(new_layout)) {
                // SAFETY: the caller's contract, passed on.
                (false, false) => unsafe { System.realloc(block, layout, new_size) },
                (true, true) => {
                    // SAFETY: `block` is a mapping of `pages(layout.size())`
                    // bytes; mremap moves or resizes it as a whole.
                    let moved = unsafe {
                        libc::mremap(
                            block.cast(),
                            pages(layout.size()),
                            pages(new_size),
                            libc::MREMAP_MAYMOVE,
                        )
                    };
                    if moved == libc::MAP_FAILED {
                        ptr::null_mut()
                    } else {
                        moved.cast()
                    }
                }
                _ => {
                    // SAFETY: a new block of the new layout; the old one
                    // stays valid until the copy is made.
                    let new_block = unsafe { self.alloc(new_layout) };
                    if !new_block.is_null() {
                        // SAFETY: both blocks hold at least the smaller size
                        // and are distinct allocations.
                        unsafe {
                            ptr::copy_nonoverlapping(block, new_block, layout.size().min(new_size));
                            self.dealloc(block, layout);
                        }
                    }
                    new_block
                }
            }
        }
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;
    use std::alloc::{GlobalAlloc, Layout};
    use wharf::runtime::alloc_hint::populating;

    /// How many of the pages of `block` are resident.
    fn resident(block: *mut u8, len: usize) -> usize {
        let pages = len.div_ceil(4096);
        let mut flags = vec![0u8; pages];
        // SAFETY: `block` is a page-aligned mapping of at least `len` bytes
        // and `flags` has a byte for each of its pages.
        let status = unsafe { libc::mincore(block.cast(), len, flags.as_mut_ptr()) };
        assert_eq!(status, 0, "mincore failed");
        flags.iter().filter(|&&f| f & 1 == 1).count()
    }

    #[test]
    fn blocks_are_populated_only_inside_populating() {
        let layout = Layout::from_size_align(1 << 20, 8).unwrap();
        let pages = (1 << 20) / 4096;
        // SAFETY (here and below): a non-zero layout, and every block is
        // freed with the layout it was allocated with.
        let lazy = unsafe { Prefaulting.alloc(layout) };
        let eager = populating(|| unsafe { Prefaulting.alloc(layout) });
        assert!(!lazy.is_null() && !eager.is_null());
        assert_eq!(resident(eager, 1 << 20), pages);
        assert!(
            resident(lazy, 1 << 20) < pages / 2,
            "a block allocated outside `populating` was populated"
        );
        // Scopes nest, and the outer one is restored.
        populating(|| {
            populating(|| {});
            let inner = unsafe { Prefaulting.alloc(layout) };
            assert_eq!(resident(inner, 1 << 20), pages);
            unsafe { Prefaulting.dealloc(inner, layout) };
        });
        unsafe {
            Prefaulting.dealloc(lazy, layout);
            Prefaulting.dealloc(eager, layout);
        }
    }

    #[test]
    fn realloc_keeps_the_contents_across_both_kinds_of_block() {
        let mut layout = Layout::from_size_align(1000, 8).unwrap();
        // SAFETY: a non-zero layout.
        let mut block = unsafe { Prefaulting.alloc(layout) };
        // SAFETY: `block` holds `layout.size()` bytes.
        unsafe { std::ptr::write_bytes(block, 7, layout.size()) };
        // Small to mapped, mapped to larger mapped, back to small.
        for size in [300 << 10, 2 << 20, 64 << 10, 40 << 20, 500] {
            // SAFETY: `block` was allocated with `layout`; the size is
            // non-zero.
            block = unsafe { Prefaulting.realloc(block, layout, size) };
            assert!(!block.is_null());
            let kept = layout.size().min(size).min(1000);
            // SAFETY: `block` holds at least `kept` initialised bytes.
            let bytes = unsafe { std::slice::from_raw_parts(block, kept) };
            assert!(bytes.iter().all(|&b| b == 7), "lost contents at {size}");
            layout = Layout::from_size_align(size, 8).unwrap();
        }
        // SAFETY: `block` was last reallocated to `layout`.
        unsafe { Prefaulting.dealloc(block, layout) };
    }
}
