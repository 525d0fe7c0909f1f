//! Compact encodings for the long per-function tables of compiled artifacts.
//!
//! This module is not in upstream wasmtime: wharf carries it (see
//! `vendor/README.md` in wharf's repository).
//!
//! postcard writes a table such as `TryPrimaryMap<FuncIndex, FunctionType>`
//! one varint at a time, and reads it back through serde's visitor machinery
//! one element at a time. For a module with ninety thousand functions (a
//! CPython with its scientific stack compiled in) that is most of the time
//! `Module::deserialize_file` takes: several milliseconds on every start.
//! The adapters here write such a table as a single byte string of
//! little-endian `u32` words, [`Packed::WORDS`] per element, and read it back
//! in one tight loop over that string.
//!
//! Use them with `#[serde(with = "crate::packed::map")]` (a
//! `TryPrimaryMap`), `crate::packed::try_vec` (a `TryVec`),
//! `crate::packed::vec` (a `Vec`) or `crate::packed::nested_map` (a
//! `TryPrimaryMap` of `TryVec`s).

use crate::prelude::*;
use crate::{
    EngineOrModuleTypeIndex, EntityRef, FilePos, FuncIndex, FuncKeyIndex, FuncRefIndex,
    FunctionLoc, FunctionName, FunctionType, ModuleInternedTypeIndex, RecGroupRelativeTypeIndex,
    VMSharedTypeIndex,
};
use core::fmt;
use core::marker::PhantomData;
use cranelift_entity::packed_option::ReservedValue;
use serde::de::{Deserializer, Error as _, Visitor};
use serde::ser::{Serialize, Serializer};

/// The module version this crate's artifacts are to be written and read
/// with (`wasmtime::Config::module_version`): wasmtime's own version, marked
/// so that neither an upstream wasmtime nor this crate loads the other's
/// artifacts.
pub const ARTIFACT_VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), "+packed-tables.1");

/// A value stored as a fixed number of `u32` words.
pub(crate) trait Packed: Sized {
    /// How many words one value takes.
    const WORDS: usize;

    /// Appends this value's words to `out`.
    fn pack(&self, out: &mut Words);

    /// Reads a value back from the `4 * WORDS` bytes `pack` wrote, or `None`
    /// when they do not describe one.
    fn unpack(record: &[u8]) -> Option<Self>;
}

/// The little-endian byte string a table is written as.
pub(crate) struct Words(Vec<u8>);

impl Words {
    fn put(&mut self, word: u32) {
        self.0.extend_from_slice(&word.to_le_bytes());
    }
}

/// The `i`th little-endian word of `record`.
#[inline(always)]
fn word(record: &[u8], i: usize) -> u32 {
    let bytes = &record[4 * i..4 * i + 4];
    u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]])
}

/// The raw value of an entity index, with the reserved value kept as
/// `u32::MAX`.
fn entity_word<T: EntityRef + ReservedValue>(index: T) -> u32 {
    if index.is_reserved_value() {
        u32::MAX
    } else {
        u32::try_from(index.index()).unwrap()
    }
}

/// The entity index `entity_word` wrote.
fn entity_from_word<T: EntityRef + ReservedValue>(word: u32) -> T {
    if word == u32::MAX {
        T::reserved_value()
    } else {
        T::new(word as usize)
    }
}

impl Packed for FunctionLoc {
    const WORDS: usize = 2;

    fn pack(&self, out: &mut Words) {
        out.put(self.start);
        out.put(self.length);
    }

    #[inline(always)]
    fn unpack(record: &[u8]) -> Option<Self> {
        Some(FunctionLoc {
            start: word(record, 0),
            length: word(record, 1),
        })
    }
}

impl Packed for FilePos {
    const WORDS: usize = 1;

    fn pack(&self, out: &mut Words) {
        out.put(self.file_offset().unwrap_or(u32::MAX));
    }

    #[inline(always)]
    fn unpack(record: &[u8]) -> Option<Self> {
        Some(match word(record, 0) {
            u32::MAX => FilePos::none(),
            offset => FilePos::new(offset),
        })
    }
}

impl Packed for FuncKeyIndex {
    const WORDS: usize = 1;

    fn pack(&self, out: &mut Words) {
        out.put(self.into_raw());
    }

    #[inline(always)]
    fn unpack(record: &[u8]) -> Option<Self> {
        Some(FuncKeyIndex::from_raw(word(record, 0)))
    }
}

impl Packed for FuncIndex {
    const WORDS: usize = 1;

    fn pack(&self, out: &mut Words) {
        out.put(entity_word(*self));
    }

    #[inline(always)]
    fn unpack(record: &[u8]) -> Option<Self> {
        Some(entity_from_word(word(record, 0)))
    }
}

impl Packed for FunctionName {
    const WORDS: usize = 3;

    fn pack(&self, out: &mut Words) {
        out.put(entity_word(self.idx));
        out.put(self.offset);
        out.put(self.len);
    }

    #[inline(always)]
    fn unpack(record: &[u8]) -> Option<Self> {
        Some(FunctionName {
            idx: entity_from_word(word(record, 0)),
            offset: word(record, 1),
            len: word(record, 2),
        })
    }
}

/// `EngineOrModuleTypeIndex`'s variants, as the first of its two words.
const ENGINE: u32 = 0;
const MODULE: u32 = 1;
const REC_GROUP: u32 = 2;

impl Packed for FunctionType {
    const WORDS: usize = 3;

    fn pack(&self, out: &mut Words) {
        let (kind, index) = match self.signature {
            EngineOrModuleTypeIndex::Engine(i) => (ENGINE, i.bits()),
            EngineOrModuleTypeIndex::Module(i) => (MODULE, entity_word(i)),
            EngineOrModuleTypeIndex::RecGroup(i) => (REC_GROUP, entity_word(i)),
        };
        out.put(kind);
        out.put(index);
        out.put(entity_word::<FuncRefIndex>(self.func_ref));
    }

    #[inline(always)]
    fn unpack(record: &[u8]) -> Option<Self> {
        let signature = match (word(record, 0), word(record, 1)) {
            (ENGINE, u32::MAX) => return None,
            (ENGINE, i) => EngineOrModuleTypeIndex::Engine(VMSharedTypeIndex::new(i)),
            (MODULE, i) => {
                EngineOrModuleTypeIndex::Module(entity_from_word::<ModuleInternedTypeIndex>(i))
            }
            (REC_GROUP, i) => EngineOrModuleTypeIndex::RecGroup(entity_from_word::<
                RecGroupRelativeTypeIndex,
            >(i)),
            _ => return None,
        };
        Some(FunctionType {
            signature,
            func_ref: entity_from_word(word(record, 2)),
        })
    }
}

/// A slice written as one byte string.
struct PackedSlice<'a, V>(&'a [V]);

impl<V: Packed> Serialize for PackedSlice<'_, V> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut words = Words(Vec::with_capacity(self.0.len() * V::WORDS * 4));
        for value in self.0 {
            value.pack(&mut words);
        }
        serializer.serialize_bytes(&words.0)
    }
}

/// A `TryVec` read back from the byte string `PackedSlice` wrote.
struct Unpacked<V>(TryVec<V>);

impl<'de, V: Packed> serde::Deserialize<'de> for Unpacked<V> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_bytes(UnpackVisitor(PhantomData))
    }
}

struct UnpackVisitor<V>(PhantomData<fn() -> V>);

impl<'de, V: Packed> Visitor<'de> for UnpackVisitor<V> {
    type Value = Unpacked<V>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "a byte string of {}-word records", V::WORDS)
    }

    fn visit_bytes<E: serde::de::Error>(self, bytes: &[u8]) -> Result<Self::Value, E> {
        let record = V::WORDS * 4;
        if bytes.len() % record != 0 {
            return Err(E::invalid_length(bytes.len(), &self));
        }
        let len = bytes.len() / record;
        let mut values = Vec::new();
        values
            .try_reserve_exact(len)
            .map_err(|_| E::custom(OutOfMemory::new(len * core::mem::size_of::<V>())))?;
        for chunk in bytes.chunks_exact(record) {
            match V::unpack(chunk) {
                // Never grows: the room was reserved above.
                Some(value) => values.push(value),
                None => return Err(E::custom("an invalid record in a packed table")),
            }
        }
        Ok(Unpacked(TryVec::from(values)))
    }
}

/// For a `TryPrimaryMap<K, V>` field.
pub(crate) mod map {
    use super::*;

    pub fn serialize<S: Serializer, K: EntityRef, V: Packed>(
        map: &TryPrimaryMap<K, V>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        PackedSlice(map.as_values_slice()).serialize(serializer)
    }

    pub fn deserialize<'de, D: Deserializer<'de>, K: EntityRef, V: Packed>(
        deserializer: D,
    ) -> Result<TryPrimaryMap<K, V>, D::Error> {
        let Unpacked(values) = serde::Deserialize::deserialize(deserializer)?;
        Ok(TryPrimaryMap::from(values))
    }
}

/// For a `Vec<V>` field.
pub(crate) mod vec {
    use super::*;

    pub fn serialize<S: Serializer, V: Packed>(
        values: &Vec<V>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        PackedSlice(values).serialize(serializer)
    }

    pub fn deserialize<'de, D: Deserializer<'de>, V: Packed>(
        deserializer: D,
    ) -> Result<Vec<V>, D::Error> {
        let Unpacked(values) = serde::Deserialize::deserialize(deserializer)?;
        Ok(values.into())
    }
}

/// For a `TryPrimaryMap<K, TryVec<V>>` field: a sequence of byte strings.
pub(crate) mod nested_map {
    use super::*;

    pub fn serialize<S: Serializer, K: EntityRef, V: Packed>(
        map: &TryPrimaryMap<K, TryVec<V>>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(map.values().map(|values| PackedSlice(values)))
    }

    pub fn deserialize<'de, D: Deserializer<'de>, K: EntityRef, V: Packed>(
        deserializer: D,
    ) -> Result<TryPrimaryMap<K, TryVec<V>>, D::Error> {
        let tables: TryVec<Unpacked<V>> = serde::Deserialize::deserialize(deserializer)?;
        let mut map = TryPrimaryMap::with_capacity(tables.len()).map_err(D::Error::custom)?;
        for Unpacked(values) in tables {
            map.push(values).map_err(D::Error::custom)?;
        }
        Ok(map)
    }
}
