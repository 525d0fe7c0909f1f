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
//! `TryPrimaryMap` of `TryVec`s), or as a [`PackedTable`].
//!
//! Each byte string starts with a padding count and that many zero bytes,
//! so that its words start at a multiple of [`ALIGN`] within the info
//! section ([`serialize_aligned`] writes it; the section itself is aligned)
//! whenever a padding under [`ALIGN`] can do that: when the string's length
//! prefix grows by a byte within those choices, none may, and the table is
//! decoded instead.
//! A [`PackedTable`] of plain words can then be used where it lies in a
//! mapped artifact, without decoding, inside
//! [`borrow_tables_from_artifacts`]: a run that loads an interpreter with
//! ninety thousand functions then writes 1.6 MB less of fresh memory.

use crate::prelude::*;
use crate::{
    EngineOrModuleTypeIndex, EntityRef, FilePos, FuncIndex, FuncKeyIndex, FuncRefIndex,
    FunctionLoc, FunctionName, FunctionType, ModuleInternedTypeIndex, RecGroupRelativeTypeIndex,
    VMSharedTypeIndex,
};
use crate::PanicOnOom as _;
use crate::collections::TryPrimaryMap;
use core::fmt;
use core::marker::PhantomData;
use core::ops::{Index, Range};
use cranelift_entity::packed_option::ReservedValue;
use serde::de::{Deserializer, Error as _, Visitor};
use serde::ser::{Serialize, Serializer};

/// The module version this crate's artifacts are to be written and read
/// with (`wasmtime::Config::module_version`): wasmtime's own version, marked
/// so that neither an upstream wasmtime nor this crate loads the other's
/// artifacts.
pub const ARTIFACT_VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), "+packed-tables.2");

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
        let len = self.0.len() * V::WORDS * 4;
        let pad = position::written().map_or(0, |at| padding(at, len));
        let mut words = Words(Vec::with_capacity(1 + pad + len));
        words.0.push(pad as u8);
        words.0.resize(1 + pad, 0);
        for value in self.0 {
            value.pack(&mut words);
        }
        serializer.serialize_bytes(&words.0)
    }
}

/// What packed words are aligned to within the info section.
pub(crate) const ALIGN: usize = 8;

/// The padding that puts the `len` bytes of words of a byte string written
/// when `at` bytes have been written at a multiple of [`ALIGN`]: postcard
/// writes the string's length as a varint, then its bytes, which start with
/// the padding's own length.
fn padding(at: usize, len: usize) -> usize {
    (0..ALIGN)
        .find(|&pad| {
            let total = 1 + pad + len;
            (at + varint_len(total) + 1 + pad) % ALIGN == 0
        })
        .unwrap_or(0)
}

/// How many bytes postcard's varint of `n` takes.
fn varint_len(mut n: usize) -> usize {
    let mut len = 1;
    while n >= 0x80 {
        n >>= 7;
        len += 1;
    }
    len
}

/// The words of a packed byte string: what follows its padding.
fn words_of(bytes: &[u8]) -> Option<&[u8]> {
    let (&pad, rest) = bytes.split_first()?;
    if usize::from(pad) >= ALIGN {
        return None;
    }
    rest.get(usize::from(pad)..)
}

/// postcard's `to_allocvec`, with packed byte strings padded so that their
/// words start at a multiple of [`ALIGN`] from the start of the output.
#[cfg(feature = "compile")]
pub(crate) fn serialize_aligned<T: Serialize + ?Sized>(value: &T) -> postcard::Result<Vec<u8>> {
    position::tracking(|| postcard::serialize_with_flavor(value, position::Tracked(Vec::new())))
}

/// How much of the output `serialize_aligned` has written, for the byte
/// strings it writes to read, and whether tables may be borrowed.
#[cfg(feature = "std")]
mod position {
    use crate::prelude::*;
    use core::cell::Cell;

    std::thread_local! {
        static WRITTEN: Cell<Option<usize>> = const { Cell::new(None) };
        static BORROWING: Cell<bool> = const { Cell::new(false) };
        static IN_PLACE: Cell<usize> = const { Cell::new(0) };
    }

    pub(super) fn in_place() -> usize {
        IN_PLACE.with(Cell::get)
    }

    pub(super) fn count_in_place() {
        IN_PLACE.with(|n| n.set(n.get() + 1));
    }

    pub(super) fn written() -> Option<usize> {
        WRITTEN.with(Cell::get)
    }

    #[cfg(feature = "compile")]
    pub(super) fn tracking<R>(f: impl FnOnce() -> R) -> R {
        struct Reset(Option<usize>);
        impl Drop for Reset {
            fn drop(&mut self) {
                WRITTEN.with(|w| w.set(self.0));
            }
        }
        let _reset = Reset(WRITTEN.with(|w| w.replace(Some(0))));
        f()
    }

    /// The output of `serialize_aligned`, which keeps `WRITTEN` up to date.
    #[cfg(feature = "compile")]
    pub(super) struct Tracked(pub(super) Vec<u8>);

    #[cfg(feature = "compile")]
    impl postcard::ser_flavors::Flavor for Tracked {
        type Output = Vec<u8>;

        fn try_push(&mut self, byte: u8) -> postcard::Result<()> {
            self.0.push(byte);
            WRITTEN.with(|w| w.set(Some(self.0.len())));
            Ok(())
        }

        fn try_extend(&mut self, bytes: &[u8]) -> postcard::Result<()> {
            self.0.extend_from_slice(bytes);
            WRITTEN.with(|w| w.set(Some(self.0.len())));
            Ok(())
        }

        fn finalize(self) -> postcard::Result<Vec<u8>> {
            Ok(self.0)
        }
    }

    pub(super) fn borrowing() -> bool {
        BORROWING.with(Cell::get)
    }

    pub(super) fn borrow<R>(f: impl FnOnce() -> R) -> R {
        struct Reset(bool);
        impl Drop for Reset {
            fn drop(&mut self) {
                BORROWING.with(|b| b.set(self.0));
            }
        }
        let _reset = Reset(BORROWING.with(|b| b.replace(true)));
        f()
    }
}

/// Without threads to keep state in, nothing is aligned or borrowed (and
/// nothing is compiled: `compile` needs `std`).
#[cfg(not(feature = "std"))]
mod position {
    pub(super) fn written() -> Option<usize> {
        None
    }

    pub(super) fn borrowing() -> bool {
        false
    }

    pub(super) fn in_place() -> usize {
        0
    }

    pub(super) fn count_in_place() {}

    pub(super) fn borrow<R>(f: impl FnOnce() -> R) -> R {
        f()
    }
}

/// Runs `f`, in which every [`PackedTable`] of plain words deserialized on
/// this thread from an artifact's bytes is used where it lies in them
/// instead of being decoded into memory of its own.
///
/// # Safety
///
/// The bytes of every artifact deserialized on this thread while `f` runs
/// must stay mapped, unchanged, at the same address, as long as any table
/// read from them lives (for example by never dropping the
/// `wasmtime::Module` loaded from it): those tables point into them.
pub unsafe fn borrow_tables_from_artifacts<R>(f: impl FnOnce() -> R) -> R {
    position::borrow(f)
}

/// How many tables deserializing artifacts on this thread has used where
/// they lie (see [`borrow_tables_from_artifacts`]), for tests and
/// diagnostics.
pub fn tables_read_in_place() -> usize {
    position::in_place()
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
        let bytes = words_of(bytes).ok_or_else(|| E::custom("a packed table's padding is invalid"))?;
        unpack_all(bytes).map(Unpacked)
    }
}

/// Decodes every record of `bytes`, the words of a packed byte string.
fn unpack_all<V: Packed, E: serde::de::Error>(bytes: &[u8]) -> Result<TryVec<V>, E> {
    let record = V::WORDS * 4;
    if bytes.len() % record != 0 {
        return Err(E::custom("a packed table's length is not a whole number of records"));
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
    Ok(TryVec::from(values))
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

/// A value whose memory is exactly its packed words, so that a table of them
/// can be used where it lies in an artifact.
///
/// # Safety
///
/// `Self` is `repr(C)` or `repr(transparent)` over `WORDS` `u32`s in the
/// order `pack` writes them, and every bit pattern of them is a valid
/// `Self` equal to what `unpack` returns.
pub(crate) unsafe trait InPlace: Packed + Copy + 'static {}

// SAFETY: `repr(C)` over `start` and `length`, packed in that order.
unsafe impl InPlace for FunctionLoc {}
// SAFETY: `repr(transparent)` over the offset, `u32::MAX` (none) included.
unsafe impl InPlace for FilePos {}
// SAFETY: `repr(transparent)` over the raw index.
unsafe impl InPlace for FuncKeyIndex {}

/// A table of an artifact's: decoded into memory of its own, or used where
/// it lies in the mapped artifact (see [`borrow_tables_from_artifacts`]).
/// Read it like the `TryPrimaryMap` it replaces; only a table being built
/// ([`PackedTable::owned_mut`]) changes.
pub struct PackedTable<K: EntityRef, V: InPlace> {
    storage: Storage<K, V>,
}

enum Storage<K: EntityRef, V: 'static> {
    Owned(TryPrimaryMap<K, V>),
    InPlace(&'static [V]),
}

impl<K: EntityRef, V: InPlace> PackedTable<K, V> {
    /// An empty table.
    pub fn new() -> Self {
        Self {
            storage: Storage::Owned(TryPrimaryMap::new()),
        }
    }

    /// The table to add to, copied out of the artifact first if it lies there.
    pub fn owned_mut(&mut self) -> &mut TryPrimaryMap<K, V> {
        if let Storage::InPlace(values) = self.storage {
            let mut owned = TryPrimaryMap::new();
            for value in values {
                owned.push(*value).panic_on_oom();
            }
            self.storage = Storage::Owned(owned);
        }
        match &mut self.storage {
            Storage::Owned(map) => map,
            Storage::InPlace(_) => unreachable!(),
        }
    }

    /// Every value, in key order.
    pub fn as_values_slice(&self) -> &[V] {
        match &self.storage {
            Storage::Owned(map) => map.as_values_slice(),
            Storage::InPlace(values) => values,
        }
    }

    /// How many values there are.
    pub fn len(&self) -> usize {
        self.as_values_slice().len()
    }

    /// The value of `key`, if there is one.
    pub fn get(&self, key: K) -> Option<&V> {
        self.as_values_slice().get(key.index())
    }

    /// The values of the keys in `range`.
    pub fn get_range(&self, range: Range<K>) -> Option<&[V]> {
        self.as_values_slice()
            .get(range.start.index()..range.end.index())
    }

    /// The key the next value pushed would get.
    pub fn next_key(&self) -> K {
        K::new(self.len())
    }

    /// The last key and its value.
    pub fn last(&self) -> Option<(K, &V)> {
        let values = self.as_values_slice();
        let last = values.last()?;
        Some((K::new(values.len() - 1), last))
    }
}

impl<K: EntityRef, V: InPlace> Index<K> for PackedTable<K, V> {
    type Output = V;

    fn index(&self, key: K) -> &V {
        &self.as_values_slice()[key.index()]
    }
}

impl<K: EntityRef, V: InPlace + fmt::Debug> fmt::Debug for PackedTable<K, V> {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.debug_list().entries(self.as_values_slice()).finish()
    }
}

impl<K: EntityRef, V: InPlace> Serialize for PackedTable<K, V> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        PackedSlice(self.as_values_slice()).serialize(serializer)
    }
}

impl<'de, K: EntityRef, V: InPlace> serde::Deserialize<'de> for PackedTable<K, V> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_bytes(TableVisitor(PhantomData))
    }
}

struct TableVisitor<K, V>(PhantomData<fn() -> (K, V)>);

impl<'de, K: EntityRef, V: InPlace> Visitor<'de> for TableVisitor<K, V> {
    type Value = PackedTable<K, V>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "a byte string of {}-word records", V::WORDS)
    }

    fn visit_borrowed_bytes<E: serde::de::Error>(self, bytes: &'de [u8]) -> Result<Self::Value, E> {
        let words = words_of(bytes).ok_or_else(|| E::custom("a packed table's padding is invalid"))?;
        let size = core::mem::size_of::<V>();
        let fits = cfg!(target_endian = "little")
            && size == V::WORDS * 4
            && words.len() % size == 0
            && words.as_ptr().align_offset(core::mem::align_of::<V>()) == 0;
        if fits && position::borrowing() {
            // SAFETY: `InPlace` makes any `size` aligned bytes a `V`, and
            // `borrow_tables_from_artifacts`' caller keeps them mapped and
            // unchanged as long as this table lives.
            let values: &'static [V] =
                unsafe { core::slice::from_raw_parts(words.as_ptr().cast(), words.len() / size) };
            position::count_in_place();
            return Ok(PackedTable {
                storage: Storage::InPlace(values),
            });
        }
        self.visit_bytes(bytes)
    }

    fn visit_bytes<E: serde::de::Error>(self, bytes: &[u8]) -> Result<Self::Value, E> {
        let words = words_of(bytes).ok_or_else(|| E::custom("a packed table's padding is invalid"))?;
        Ok(PackedTable {
            storage: Storage::Owned(TryPrimaryMap::from(unpack_all(words)?)),
        })
    }
}
