//! Asks the kernel to read compiled modules into its page cache in large
//! pieces.
//!
//! A compiled module is a file of a few hundred megabytes that every run
//! maps twice: once whole (its code and tables), and once for each linear
//! memory whose initial contents it carries (a snapshot's heap, copy on
//! write). When the kernel has dropped the file from its page cache, as it
//! does with files left unused for some minutes, faults through those
//! mappings read it back in small pages, and every later run walks those
//! pages one by one on each fault. On a snapshotted CPython, `print('hi')`
//! then took 5 to 15% longer than with the file just written, which the page
//! cache holds in large pieces. Marking the mappings `MADV_HUGEPAGE` makes
//! the kernel read the file back in 2 MiB pieces instead.
//!
//! Only file mappings are marked: the compiled module, or the memfd
//! wasmtime builds a memory image in when it compiled the module in this
//! process (written whole, so no first touch there clears a page). Marking
//! the anonymous part of a linear memory would make each first touch there
//! allocate and clear 2 MiB.
//!
//! On systems other than Linux, and on kernels without transparent huge
//! pages, these functions do nothing: the advice is only ever a hint.

use std::ops::Range;

/// Marks the pages of `range`, a mapping of a compiled module's file.
pub(crate) fn advise_module(range: Range<*const u8>) {
    #[cfg(target_os = "linux")]
    linux::advise(range.start as usize, range.end as usize);
    #[cfg(not(target_os = "linux"))]
    let _ = range;
}

/// The size from which a linear memory's initial contents are worth
/// marking: a snapshot's heap, not a small program's data.
pub(crate) const WORTH_IT: usize = 8 << 20;

/// Marks the file-backed mappings inside `range`, a linear memory: the part
/// its initial contents are mapped from.
pub(crate) fn advise_memory_image(range: Range<*const u8>) {
    #[cfg(target_os = "linux")]
    linux::advise_file_backed(range.start as usize, range.end as usize);
    #[cfg(not(target_os = "linux"))]
    let _ = range;
}

#[cfg(target_os = "linux")]
mod linux {
    use std::io::Read;

    const PAGE: usize = 4096;

    pub(super) fn advise(start: usize, end: usize) {
        let start = start & !(PAGE - 1);
        if end <= start {
            return;
        }
        // SAFETY: MADV_HUGEPAGE changes no contents and no permissions; on
        // a range that is not (wholly) mapped it fails with ENOMEM, which
        // is ignored like every other failure of a hint.
        unsafe {
            libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_HUGEPAGE);
        }
    }

    pub(super) fn advise_file_backed(start: usize, end: usize) {
        let Some(maps) = read_maps() else { return };
        for (from, to) in file_backed(&maps) {
            let (from, to) = (from.max(start), to.min(end));
            if from < to {
                advise(from, to);
            }
        }
    }

    /// `/proc/self/maps`, read in one go (a few kilobytes).
    fn read_maps() -> Option<String> {
        let mut text = String::with_capacity(16 * 1024);
        std::fs::File::open("/proc/self/maps")
            .and_then(|mut f| f.read_to_string(&mut text))
            .ok()?;
        Some(text)
    }

    /// The address ranges of `maps` (as `/proc/self/maps` writes them)
    /// that map a file: their inode, the fifth field, is not 0.
    pub(super) fn file_backed(maps: &str) -> impl Iterator<Item = (usize, usize)> + '_ {
        maps.lines().filter_map(|line| {
            let mut fields = line.split_ascii_whitespace();
            let (from, to) = fields.next()?.split_once('-')?;
            let inode = fields.nth(3)?;
            if inode == "0" {
                return None;
            }
            let from = usize::from_str_radix(from, 16).ok()?;
            let to = usize::from_str_radix(to, 16).ok()?;
            Some((from, to))
        })
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::linux::file_backed;

    #[test]
    fn only_mappings_with_an_inode_are_file_backed() {
        let maps = "\
7f0000000000-7f0000200000 rw-p 00000000 00:00 0 \n\
7f0000200000-7f0003000000 rw-p 0e370000 fe:01 1234567                    /store/artifacts/x.cwasm\n\
7f0003000000-7f0004000000 rw-p 00000000 00:00 0 \n\
7ffd00000000-7ffd00021000 rw-p 00000000 00:00 0                          [stack]\n\
garbage\n";
        let ranges: Vec<_> = file_backed(maps).collect();
        assert_eq!(ranges, vec![(0x7f00_0020_0000, 0x7f00_0300_0000)]);
    }

    /// Whether the mapping that starts at `start` is marked for huge
    /// pages, as `/proc/self/smaps` says (its `hg` flag).
    fn marked(start: usize) -> bool {
        let smaps = std::fs::read_to_string("/proc/self/smaps").unwrap();
        let header = format!("{start:x}-");
        let mut lines = smaps.lines().skip_while(|l| !l.starts_with(&header));
        assert!(lines.next().is_some(), "no mapping starts at {start:x}");
        let flags = lines.find(|l| l.starts_with("VmFlags:")).unwrap();
        flags.split_ascii_whitespace().any(|f| f == "hg")
    }

    #[test]
    fn only_the_file_backed_part_of_a_memory_is_marked() {
        const MIB: usize = 1 << 20;
        let file = tempfile::tempfile().unwrap();
        file.set_len(4 * MIB as u64).unwrap();
        // A memory as wasmtime lays one out: anonymous, with its image
        // mapped from a file over the start.
        let (memory, image) = unsafe {
            let memory = libc::mmap(
                std::ptr::null_mut(),
                12 * MIB,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            );
            assert_ne!(memory, libc::MAP_FAILED);
            let image = libc::mmap(
                memory.cast::<u8>().add(MIB).cast(),
                4 * MIB,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_FIXED,
                std::os::fd::AsRawFd::as_raw_fd(&file),
                0,
            );
            assert_ne!(image, libc::MAP_FAILED);
            (memory as usize, image as usize)
        };
        let huge_pages = std::path::Path::new("/sys/kernel/mm/transparent_hugepage").exists();
        super::advise_memory_image(memory as *const u8..(memory + 12 * MIB) as *const u8);
        assert_eq!(marked(image), huge_pages, "the image");
        assert!(!marked(memory), "the anonymous part before the image");
        assert!(!marked(image + 4 * MIB), "the anonymous part after it");
        unsafe { libc::munmap(memory as *mut libc::c_void, 12 * MIB) };
    }

    #[test]
    fn the_maps_of_this_process_include_its_own_executable() {
        let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
        let here = the_maps_of_this_process_include_its_own_executable as fn() as usize;
        assert!(
            file_backed(&maps).any(|(from, to)| (from..to).contains(&here)),
            "no file-backed mapping holds {here:#x} in:\n{maps}"
        );
    }
}
