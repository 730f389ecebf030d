//! GGUF metadata: typed values, arrays (nested ones included), and the key/value map.

use super::cursor::Cursor;
use crate::model::ModelError;
use std::collections::HashMap;
use std::fmt;

/// The deepest nesting of arrays read (an array of arrays is depth 2). Real files use 1; the
/// bound keeps a hostile file from exhausting the stack.
pub const MAX_ARRAY_DEPTH: usize = 8;

/// The most elements reserved ahead of reading them.
const MAX_RESERVE: usize = 1 << 16;

/// The type tag of a GGUF metadata value, as the file stores it (`gguf_type` in ggml).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum GgufValueType {
    /// 0: `u8`.
    U8,
    /// 1: `i8`.
    I8,
    /// 2: `u16`.
    U16,
    /// 3: `i16`.
    I16,
    /// 4: `u32`.
    U32,
    /// 5: `i32`.
    I32,
    /// 6: `f32`.
    F32,
    /// 7: `bool` (one byte).
    Bool,
    /// 8: a string (`u64` length, UTF-8 bytes).
    String,
    /// 9: an array (`u32` element type, `u64` length, elements).
    Array,
    /// 10: `u64`.
    U64,
    /// 11: `i64`.
    I64,
    /// 12: `f64`.
    F64,
}

impl GgufValueType {
    /// The type with tag `id`, if GGUF defines it.
    pub fn from_id(id: u32) -> Option<GgufValueType> {
        use GgufValueType as T;
        Some(match id {
            0 => T::U8,
            1 => T::I8,
            2 => T::U16,
            3 => T::I16,
            4 => T::U32,
            5 => T::I32,
            6 => T::F32,
            7 => T::Bool,
            8 => T::String,
            9 => T::Array,
            10 => T::U64,
            11 => T::I64,
            12 => T::F64,
            _ => return None,
        })
    }

    /// The tag the file stores.
    pub fn id(self) -> u32 {
        use GgufValueType as T;
        match self {
            T::U8 => 0,
            T::I8 => 1,
            T::U16 => 2,
            T::I16 => 3,
            T::U32 => 4,
            T::I32 => 5,
            T::F32 => 6,
            T::Bool => 7,
            T::String => 8,
            T::Array => 9,
            T::U64 => 10,
            T::I64 => 11,
            T::F64 => 12,
        }
    }

    /// The type's name, as ggml's `gguf_type_name` prints it (`"u32"`, `"str"`, `"arr"`).
    pub fn name(self) -> &'static str {
        use GgufValueType as T;
        match self {
            T::U8 => "u8",
            T::I8 => "i8",
            T::U16 => "u16",
            T::I16 => "i16",
            T::U32 => "u32",
            T::I32 => "i32",
            T::F32 => "f32",
            T::Bool => "bool",
            T::String => "str",
            T::Array => "arr",
            T::U64 => "u64",
            T::I64 => "i64",
            T::F64 => "f64",
        }
    }

    /// The fewest bytes one value of this type takes in a file (a string's or an array's
    /// header alone): the bound that checks a count before anything is allocated.
    pub(crate) fn min_bytes(self) -> u64 {
        use GgufValueType as T;
        match self {
            T::U8 | T::I8 | T::Bool => 1,
            T::U16 | T::I16 => 2,
            T::U32 | T::I32 | T::F32 => 4,
            T::U64 | T::I64 | T::F64 | T::String => 8,
            T::Array => 12,
        }
    }
}

impl fmt::Display for GgufValueType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One GGUF metadata value.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum GgufValue {
    /// `u8`.
    U8(u8),
    /// `i8`.
    I8(i8),
    /// `u16`.
    U16(u16),
    /// `i16`.
    I16(i16),
    /// `u32`.
    U32(u32),
    /// `i32`.
    I32(i32),
    /// `f32`.
    F32(f32),
    /// `bool`: any non-zero byte is `true`, as in ggml.
    Bool(bool),
    /// A UTF-8 string.
    String(String),
    /// An array of values of one type.
    Array(GgufArray),
    /// `u64`.
    U64(u64),
    /// `i64`.
    I64(i64),
    /// `f64`.
    F64(f64),
}

/// A GGUF array: elements of one type, kept in a vector of that type.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum GgufArray {
    /// `u8` elements.
    U8(Vec<u8>),
    /// `i8` elements.
    I8(Vec<i8>),
    /// `u16` elements.
    U16(Vec<u16>),
    /// `i16` elements.
    I16(Vec<i16>),
    /// `u32` elements.
    U32(Vec<u32>),
    /// `i32` elements.
    I32(Vec<i32>),
    /// `f32` elements.
    F32(Vec<f32>),
    /// `bool` elements.
    Bool(Vec<bool>),
    /// String elements (a vocabulary, say).
    String(Vec<String>),
    /// Array elements: an array of arrays (each with its own element type).
    Array(Vec<GgufArray>),
    /// `u64` elements.
    U64(Vec<u64>),
    /// `i64` elements.
    I64(Vec<i64>),
    /// `f64` elements.
    F64(Vec<f64>),
}

impl GgufValue {
    /// The value's type tag.
    pub fn value_type(&self) -> GgufValueType {
        use GgufValueType as T;
        match self {
            GgufValue::U8(_) => T::U8,
            GgufValue::I8(_) => T::I8,
            GgufValue::U16(_) => T::U16,
            GgufValue::I16(_) => T::I16,
            GgufValue::U32(_) => T::U32,
            GgufValue::I32(_) => T::I32,
            GgufValue::F32(_) => T::F32,
            GgufValue::Bool(_) => T::Bool,
            GgufValue::String(_) => T::String,
            GgufValue::Array(_) => T::Array,
            GgufValue::U64(_) => T::U64,
            GgufValue::I64(_) => T::I64,
            GgufValue::F64(_) => T::F64,
        }
    }

    /// The string, for a string value.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            GgufValue::String(s) => Some(s),
            _ => None,
        }
    }

    /// The value as a `u64`, for an integer value that is not negative.
    pub fn as_u64(&self) -> Option<u64> {
        match *self {
            GgufValue::U8(v) => Some(v.into()),
            GgufValue::U16(v) => Some(v.into()),
            GgufValue::U32(v) => Some(v.into()),
            GgufValue::U64(v) => Some(v),
            GgufValue::I8(v) => u64::try_from(v).ok(),
            GgufValue::I16(v) => u64::try_from(v).ok(),
            GgufValue::I32(v) => u64::try_from(v).ok(),
            GgufValue::I64(v) => u64::try_from(v).ok(),
            _ => None,
        }
    }

    /// The value as an `f64`, for a float value.
    pub fn as_f64(&self) -> Option<f64> {
        match *self {
            GgufValue::F32(v) => Some(v.into()),
            GgufValue::F64(v) => Some(v),
            _ => None,
        }
    }

    /// The value, for a `bool`.
    pub fn as_bool(&self) -> Option<bool> {
        match *self {
            GgufValue::Bool(v) => Some(v),
            _ => None,
        }
    }

    /// The array, for an array value.
    pub fn as_array(&self) -> Option<&GgufArray> {
        match self {
            GgufValue::Array(a) => Some(a),
            _ => None,
        }
    }
}

impl GgufArray {
    /// The elements' type tag.
    pub fn element_type(&self) -> GgufValueType {
        use GgufValueType as T;
        match self {
            GgufArray::U8(_) => T::U8,
            GgufArray::I8(_) => T::I8,
            GgufArray::U16(_) => T::U16,
            GgufArray::I16(_) => T::I16,
            GgufArray::U32(_) => T::U32,
            GgufArray::I32(_) => T::I32,
            GgufArray::F32(_) => T::F32,
            GgufArray::Bool(_) => T::Bool,
            GgufArray::String(_) => T::String,
            GgufArray::Array(_) => T::Array,
            GgufArray::U64(_) => T::U64,
            GgufArray::I64(_) => T::I64,
            GgufArray::F64(_) => T::F64,
        }
    }

    /// The number of elements.
    pub fn len(&self) -> usize {
        match self {
            GgufArray::U8(v) => v.len(),
            GgufArray::I8(v) => v.len(),
            GgufArray::U16(v) => v.len(),
            GgufArray::I16(v) => v.len(),
            GgufArray::U32(v) => v.len(),
            GgufArray::I32(v) => v.len(),
            GgufArray::F32(v) => v.len(),
            GgufArray::Bool(v) => v.len(),
            GgufArray::String(v) => v.len(),
            GgufArray::Array(v) => v.len(),
            GgufArray::U64(v) => v.len(),
            GgufArray::I64(v) => v.len(),
            GgufArray::F64(v) => v.len(),
        }
    }

    /// `true` for an empty array.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Short forms for printing: scalars as written, strings quoted, arrays as their element type
/// and length (`[str; 256000]`), since a vocabulary is too long to print.
impl fmt::Display for GgufValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GgufValue::U8(v) => write!(f, "{v}"),
            GgufValue::I8(v) => write!(f, "{v}"),
            GgufValue::U16(v) => write!(f, "{v}"),
            GgufValue::I16(v) => write!(f, "{v}"),
            GgufValue::U32(v) => write!(f, "{v}"),
            GgufValue::I32(v) => write!(f, "{v}"),
            GgufValue::F32(v) => write!(f, "{v}"),
            GgufValue::Bool(v) => write!(f, "{v}"),
            GgufValue::String(v) => write!(f, "{v:?}"),
            GgufValue::Array(a) => write!(f, "[{}; {}]", a.element_type(), a.len()),
            GgufValue::U64(v) => write!(f, "{v}"),
            GgufValue::I64(v) => write!(f, "{v}"),
            GgufValue::F64(v) => write!(f, "{v}"),
        }
    }
}

macro_rules! value_from {
    ($($ty:ty => $variant:ident),* $(,)?) => {
        $(
            impl From<$ty> for GgufValue {
                fn from(v: $ty) -> GgufValue {
                    GgufValue::$variant(v.into())
                }
            }
            impl From<Vec<$ty>> for GgufArray {
                fn from(v: Vec<$ty>) -> GgufArray {
                    GgufArray::$variant(v)
                }
            }
        )*
    };
}

value_from!(u8 => U8, i8 => I8, u16 => U16, i16 => I16, u32 => U32, i32 => I32, f32 => F32,
    bool => Bool, String => String, u64 => U64, i64 => I64, f64 => F64);

impl From<&str> for GgufValue {
    fn from(v: &str) -> GgufValue {
        GgufValue::String(v.to_string())
    }
}

impl From<GgufArray> for GgufValue {
    fn from(v: GgufArray) -> GgufValue {
        GgufValue::Array(v)
    }
}

impl From<Vec<GgufArray>> for GgufArray {
    fn from(v: Vec<GgufArray>) -> GgufArray {
        GgufArray::Array(v)
    }
}

/// A GGUF file's metadata: its keys and values, in file order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct GgufMetadata {
    entries: Vec<(String, GgufValue)>,
    index: HashMap<String, usize>,
}

impl GgufMetadata {
    /// The value of `key`, if the file has it.
    pub fn get(&self, key: &str) -> Option<&GgufValue> {
        self.index
            .get(key)
            .and_then(|&i| self.entries.get(i))
            .map(|(_, v)| v)
    }

    /// The string value of `key`, if it is one.
    pub fn get_str(&self, key: &str) -> Option<&str> {
        self.get(key).and_then(GgufValue::as_str)
    }

    /// The non-negative integer value of `key`, if it is one.
    pub fn get_u64(&self, key: &str) -> Option<u64> {
        self.get(key).and_then(GgufValue::as_u64)
    }

    /// `general.architecture` (`"llama"`, `"gemma2"`, `"qwen2"`).
    pub fn architecture(&self) -> Option<&str> {
        self.get_str("general.architecture")
    }

    /// `general.name`, the model's display name.
    pub fn name(&self) -> Option<&str> {
        self.get_str("general.name")
    }

    /// Every key and value, in file order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &GgufValue)> {
        self.entries.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// The number of keys.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// `true` when the file has no metadata.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Adds a key, refusing one already present (the caller names the file).
    pub(crate) fn insert(&mut self, key: String, value: GgufValue) -> Result<(), String> {
        if self.index.contains_key(&key) {
            return Err(key);
        }
        self.index.insert(key.clone(), self.entries.len());
        self.entries.push((key, value));
        Ok(())
    }
}

/// Reads metadata entry `number`: its key, type tag and value.
pub(crate) fn read_entry(
    cursor: &mut Cursor<'_>,
    number: u64,
) -> Result<(String, GgufValue), ModelError> {
    let key = cursor
        .string(|| format!("metadata key #{number}"))?
        .to_string();
    let tag = cursor.u32(|| format!("the type of metadata `{key}`"))?;
    let ty = value_type(cursor, &key, tag)?;
    let value = read_value(cursor, &key, ty, 1)?;
    Ok((key, value))
}

fn value_type(cursor: &Cursor<'_>, key: &str, tag: u32) -> Result<GgufValueType, ModelError> {
    GgufValueType::from_id(tag).ok_or_else(|| ModelError::GgufInvalidValue {
        file: cursor.file().to_path_buf(),
        key: key.to_string(),
        reason: format!("unknown value type {tag} (GGUF defines 0 to 12)"),
    })
}

/// Reads one value of type `ty`; `depth` is the array nesting of the value being read.
fn read_value(
    cursor: &mut Cursor<'_>,
    key: &str,
    ty: GgufValueType,
    depth: usize,
) -> Result<GgufValue, ModelError> {
    use GgufValueType as T;
    let what = || format!("the value of metadata `{key}`");
    Ok(match ty {
        T::U8 => GgufValue::U8(u8::from_le_bytes(cursor.bytes(what)?)),
        T::I8 => GgufValue::I8(i8::from_le_bytes(cursor.bytes(what)?)),
        T::U16 => GgufValue::U16(u16::from_le_bytes(cursor.bytes(what)?)),
        T::I16 => GgufValue::I16(i16::from_le_bytes(cursor.bytes(what)?)),
        T::U32 => GgufValue::U32(u32::from_le_bytes(cursor.bytes(what)?)),
        T::I32 => GgufValue::I32(i32::from_le_bytes(cursor.bytes(what)?)),
        T::F32 => GgufValue::F32(f32::from_le_bytes(cursor.bytes(what)?)),
        T::Bool => GgufValue::Bool(u8::from_le_bytes(cursor.bytes(what)?) != 0),
        T::String => GgufValue::String(cursor.string(what)?.to_string()),
        T::U64 => GgufValue::U64(u64::from_le_bytes(cursor.bytes(what)?)),
        T::I64 => GgufValue::I64(i64::from_le_bytes(cursor.bytes(what)?)),
        T::F64 => GgufValue::F64(f64::from_le_bytes(cursor.bytes(what)?)),
        T::Array => GgufValue::Array(read_array(cursor, key, depth)?),
    })
}

/// Reads an array's element type, length and elements. The length is checked against the
/// bytes left before any element is read or any room reserved.
fn read_array(cursor: &mut Cursor<'_>, key: &str, depth: usize) -> Result<GgufArray, ModelError> {
    if depth > MAX_ARRAY_DEPTH {
        return Err(ModelError::GgufInvalidValue {
            file: cursor.file().to_path_buf(),
            key: key.to_string(),
            reason: format!("arrays nested deeper than {MAX_ARRAY_DEPTH}"),
        });
    }
    let tag = cursor.u32(|| format!("the element type of metadata `{key}`"))?;
    let ty = value_type(cursor, key, tag)?;
    let len = cursor.count(ty.min_bytes(), || {
        format!("the length of array metadata `{key}`")
    })?;
    // At most the bytes left (checked above): bounded by the file, never by a hostile count.
    let len = usize::try_from(len).unwrap_or(usize::MAX);
    // Strings and arrays grow as their elements are read, from a bounded reservation: memory
    // follows the bytes actually read, even in a large file.
    let reserve = len.min(MAX_RESERVE);

    macro_rules! fixed {
        ($variant:ident, $ty:ty) => {{
            let size = std::mem::size_of::<$ty>() as u64;
            let what = || format!("the elements of array metadata `{key}`");
            let raw = cursor.take(size.saturating_mul(len as u64), what)?;
            GgufArray::$variant(
                raw.chunks_exact(size as usize)
                    .map(|c| <$ty>::from_le_bytes(c.try_into().unwrap_or_default()))
                    .collect(),
            )
        }};
    }
    use GgufValueType as T;
    Ok(match ty {
        T::U8 => fixed!(U8, u8),
        T::I8 => fixed!(I8, i8),
        T::U16 => fixed!(U16, u16),
        T::I16 => fixed!(I16, i16),
        T::U32 => fixed!(U32, u32),
        T::I32 => fixed!(I32, i32),
        T::F32 => fixed!(F32, f32),
        T::U64 => fixed!(U64, u64),
        T::I64 => fixed!(I64, i64),
        T::F64 => fixed!(F64, f64),
        T::Bool => {
            let what = || format!("the elements of array metadata `{key}`");
            GgufArray::Bool(
                cursor
                    .take(len as u64, what)?
                    .iter()
                    .map(|&b| b != 0)
                    .collect(),
            )
        }
        T::String => {
            let mut strings = Vec::with_capacity(reserve);
            for i in 0..len {
                let what = || format!("element {i} of array metadata `{key}`");
                strings.push(cursor.string(what)?.to_string());
            }
            GgufArray::String(strings)
        }
        T::Array => {
            let mut arrays = Vec::with_capacity(reserve);
            for _ in 0..len {
                arrays.push(read_array(cursor, key, depth + 1)?);
            }
            GgufArray::Array(arrays)
        }
    })
}
