//! Image layers: writing them deterministically at build time, applying them
//! safely when an image's file tree is unpacked.

mod extract;
mod writer;

pub(crate) use extract::make_symlink;
pub use extract::{DirTimes, MAX_LAYER_BYTES, ModuleIndex, WASM_MAGIC, apply_layer, set_dir_times};
pub use writer::{DEFAULT_MTIME, FileSource, LayerContents, LayerEntry, WrittenLayer};
