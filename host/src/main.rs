//! The `wharf` command.

fn main() {
    std::process::exit(wharf::cli::main());
}

/// The command's allocator on Linux: the system's, except that blocks of a
/// middling size come straight from `mmap` with their pages populated.
///
/// Loading a compiled CPython decodes a few megabytes of tables into fresh
/// blocks on every run. Handed out lazily (as the C library does), each of
/// their pages costs a page fault on first touch, which on a virtual machine
/// adds up to a millisecond or more of a ten-millisecond run; populated by
/// `mmap` in one call, the same pages cost about half. Small blocks stay
/// with the C library, and very large ones too, so that a buffer that is
/// never filled (a compiler's, say) is not made resident for nothing.
#[cfg(target_os = "linux")]
mod prefault {
    use std::alloc::{GlobalAlloc, Layout, System};
    use std::ptr;

    /// Blocks from this size up to [`MAX`] are populated.
    const MIN: usize = 128 << 10;
    /// See [`MIN`].
    const MAX: usize = 16 << 20;
    /// The page size `mmap` works in (and the largest alignment it gives).
    const PAGE: usize = 4096;

    /// The allocator; see the module's documentation.
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

    // SAFETY: every block is either the C library's (and goes back to it)
    // or a fresh private anonymous mapping of at least its size, page
    // aligned (which satisfies any alignment up to PAGE), unmapped once.
    unsafe impl GlobalAlloc for Prefaulting {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            if !mapped(layout) {
                // SAFETY: the caller's contract, passed on.
                return unsafe { System.alloc(layout) };
            }
            // SAFETY: a new anonymous mapping; no existing memory involved.
            let block = unsafe {
                libc::mmap(
                    ptr::null_mut(),
                    pages(layout.size()),
                    libc::PROT_READ | libc::PROT_WRITE,
                    libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_POPULATE,
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

        unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
            if mapped(layout) {
                // SAFETY: as for `alloc`; anonymous mappings are zeroed.
                unsafe { self.alloc(layout) }
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

    #[global_allocator]
    static ALLOCATOR: Prefaulting = Prefaulting;
}
