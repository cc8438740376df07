//! The canonical JSON a report's digest is taken of: compact, every object's keys in byte
//! order, and the top object's `digest` written as null (present or not). Two ways in, one
//! form out: [`of_value`] for a record read back from the history (a `serde_json::Value`), and
//! [`of`] for a report as rebound holds it, serialized straight to canonical bytes. The second
//! exists because a 1,000-tier report as a `Value` tree took a fifth of the whole run's heap
//! only to be hashed (issue 20, measured with massif); only each object's entries are held, to
//! be sorted, never a tree. Scalars are written by serde_json in both, exactly as `Value`'s own
//! writer writes them, so the two agree byte for byte: a unit test holds them to it on every
//! serde shape, and every `history verify` on real reports (a record's digest is streamed when
//! it is stored and recomputed from the `Value` read back when it is verified).

use serde::Serialize;
use serde::ser::{self, Impossible};
use serde_json::Value;

/// The canonical form of `v`; `digest_null`: its top object's `digest` is null.
pub(crate) fn of_value(v: &Value, digest_null: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(64 * 1024);
    write_value(v, &mut out, digest_null);
    out
}

fn write_value(v: &Value, out: &mut Vec<u8>, digest_null: bool) {
    match v {
        Value::Object(m) => {
            let mut entries: Vec<(&str, Option<&Value>)> =
                m.iter().map(|(k, v)| (k.as_str(), Some(v))).collect();
            if digest_null {
                entries.retain(|(k, _)| *k != "digest");
                entries.push(("digest", None));
            }
            entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
            out.push(b'{');
            for (i, (k, value)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                scalar(out, k);
                out.push(b':');
                match value {
                    Some(value) => write_value(value, out, false),
                    None => out.extend_from_slice(b"null"),
                }
            }
            out.push(b'}');
        }
        Value::Array(a) => {
            out.push(b'[');
            for (i, item) in a.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_value(item, out, false);
            }
            out.push(b']');
        }
        other => scalar(out, other),
    }
}

/// A scalar as serde_json writes it (into a Vec, which cannot fail).
fn scalar<T: Serialize + ?Sized>(out: &mut Vec<u8>, v: &T) {
    let _ = serde_json::to_writer(&mut *out, v);
}

/// The canonical form of `t` (a struct or map at the top, as a report is) as
/// `of_value(&serde_json::to_value(t))` would give it, without the tree. A map key that is not a
/// string, an integer, a bool or a char is refused (`to_value` would take a float key too; a
/// report has none, and the caller falls back to the tree).
pub(crate) fn of<T: Serialize + ?Sized>(t: &T, digest_null: bool) -> Result<Vec<u8>, Error> {
    let mut out = Vec::with_capacity(64 * 1024);
    t.serialize(Canonical {
        out: &mut out,
        digest_null,
    })?;
    Ok(out)
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(crate) struct Error(String);

impl ser::Error for Error {
    fn custom<T: std::fmt::Display>(msg: T) -> Self {
        Error(msg.to_string())
    }
}

/// Writes one value into `out`; `digest_null` is for the top object only.
struct Canonical<'a> {
    out: &'a mut Vec<u8>,
    digest_null: bool,
}

/// An object being written: its entries, held to be sorted (`None`: the digest's null).
struct Object<'a> {
    out: &'a mut Vec<u8>,
    entries: Vec<(String, Option<Vec<u8>>)>,
    key: Option<String>,
    digest_null: bool,
    /// An enum variant's name: the object is written inside `{"name": ...}`, as `to_value`
    /// writes struct variants.
    variant: Option<&'static str>,
}

impl Object<'_> {
    fn entry<T: Serialize + ?Sized>(&mut self, key: String, value: &T) -> Result<(), Error> {
        let mut bytes = Vec::new();
        value.serialize(Canonical {
            out: &mut bytes,
            digest_null: false,
        })?;
        self.entries.push((key, Some(bytes)));
        Ok(())
    }

    fn end(mut self) -> Result<(), Error> {
        if self.digest_null {
            self.entries.retain(|(k, _)| k != "digest");
            self.entries.push(("digest".to_string(), None));
        }
        // As a map of `Value` keeps them: the last of equal keys wins.
        self.entries.sort_by(|a, b| a.0.cmp(&b.0));
        self.entries.dedup_by(|later, earlier| {
            if later.0 == earlier.0 {
                std::mem::swap(later, earlier);
                true
            } else {
                false
            }
        });
        if let Some(v) = self.variant {
            self.out.push(b'{');
            scalar(self.out, v);
            self.out.push(b':');
        }
        self.out.push(b'{');
        for (i, (k, v)) in self.entries.iter().enumerate() {
            if i > 0 {
                self.out.push(b',');
            }
            scalar(self.out, k.as_str());
            self.out.push(b':');
            match v {
                Some(bytes) => self.out.extend_from_slice(bytes),
                None => self.out.extend_from_slice(b"null"),
            }
        }
        self.out.push(b'}');
        if self.variant.is_some() {
            self.out.push(b'}');
        }
        Ok(())
    }
}

/// An array being written; `variant` as for `Object`.
struct Array<'a> {
    out: &'a mut Vec<u8>,
    first: bool,
    variant: bool,
}

impl Array<'_> {
    fn element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        if !self.first {
            self.out.push(b',');
        }
        self.first = false;
        value.serialize(Canonical {
            out: self.out,
            digest_null: false,
        })
    }

    fn end(self) -> Result<(), Error> {
        self.out.push(b']');
        if self.variant {
            self.out.push(b'}');
        }
        Ok(())
    }
}

impl<'a> Canonical<'a> {
    fn object(self, variant: Option<&'static str>) -> Object<'a> {
        Object {
            out: self.out,
            entries: Vec::new(),
            key: None,
            digest_null: self.digest_null && variant.is_none(),
            variant,
        }
    }

    fn array(self, variant: Option<&'static str>) -> Array<'a> {
        if let Some(v) = variant {
            self.out.push(b'{');
            scalar(self.out, v);
            self.out.push(b':');
        }
        self.out.push(b'[');
        Array {
            out: self.out,
            first: true,
            variant: variant.is_some(),
        }
    }
}

macro_rules! scalars {
    ($($method:ident: $ty:ty),*) => {
        $(fn $method(self, v: $ty) -> Result<(), Error> {
            scalar(self.out, &v);
            Ok(())
        })*
    };
}

impl<'a> ser::Serializer for Canonical<'a> {
    type Ok = ();
    type Error = Error;
    type SerializeSeq = Array<'a>;
    type SerializeTuple = Array<'a>;
    type SerializeTupleStruct = Array<'a>;
    type SerializeTupleVariant = Array<'a>;
    type SerializeMap = Object<'a>;
    type SerializeStruct = Object<'a>;
    type SerializeStructVariant = Object<'a>;

    scalars!(serialize_bool: bool, serialize_i8: i8, serialize_i16: i16, serialize_i32: i32,
        serialize_i64: i64, serialize_i128: i128, serialize_u8: u8, serialize_u16: u16,
        serialize_u32: u32, serialize_u64: u64, serialize_u128: u128, serialize_f64: f64,
        serialize_char: char, serialize_str: &str);

    /// `to_value` widens an f32 to f64 before writing it.
    fn serialize_f32(self, v: f32) -> Result<(), Error> {
        scalar(self.out, &f64::from(v));
        Ok(())
    }

    fn serialize_bytes(self, v: &[u8]) -> Result<(), Error> {
        scalar(self.out, v);
        Ok(())
    }

    fn serialize_none(self) -> Result<(), Error> {
        self.serialize_unit()
    }

    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), Error> {
        value.serialize(self)
    }

    fn serialize_unit(self) -> Result<(), Error> {
        self.out.extend_from_slice(b"null");
        Ok(())
    }

    fn serialize_unit_struct(self, _: &'static str) -> Result<(), Error> {
        self.serialize_unit()
    }

    fn serialize_unit_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
    ) -> Result<(), Error> {
        self.serialize_str(variant)
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        value.serialize(self)
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        self.out.push(b'{');
        scalar(self.out, variant);
        self.out.push(b':');
        value.serialize(Canonical {
            out: &mut *self.out,
            digest_null: false,
        })?;
        self.out.push(b'}');
        Ok(())
    }

    fn serialize_seq(self, _: Option<usize>) -> Result<Array<'a>, Error> {
        Ok(self.array(None))
    }

    fn serialize_tuple(self, _: usize) -> Result<Array<'a>, Error> {
        Ok(self.array(None))
    }

    fn serialize_tuple_struct(self, _: &'static str, _: usize) -> Result<Array<'a>, Error> {
        Ok(self.array(None))
    }

    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        _: usize,
    ) -> Result<Array<'a>, Error> {
        Ok(self.array(Some(variant)))
    }

    fn serialize_map(self, _: Option<usize>) -> Result<Object<'a>, Error> {
        Ok(self.object(None))
    }

    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Object<'a>, Error> {
        Ok(self.object(None))
    }

    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        _: usize,
    ) -> Result<Object<'a>, Error> {
        Ok(self.object(Some(variant)))
    }
}

/// The four array-like shapes of serde, one element writer.
macro_rules! arrays {
    ($($trait:ident :: $method:ident),*) => {
        $(impl ser::$trait for Array<'_> {
            type Ok = ();
            type Error = Error;
            fn $method<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
                self.element(value)
            }
            fn end(self) -> Result<(), Error> {
                Array::end(self)
            }
        })*
    };
}

arrays!(
    SerializeSeq::serialize_element,
    SerializeTuple::serialize_element,
    SerializeTupleStruct::serialize_field,
    SerializeTupleVariant::serialize_field
);

impl ser::SerializeMap for Object<'_> {
    type Ok = ();
    type Error = Error;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), Error> {
        self.key = Some(key.serialize(KeyName)?);
        Ok(())
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        let key = self
            .key
            .take()
            .ok_or_else(|| Error("a map value without its key".to_string()))?;
        self.entry(key, value)
    }
    fn end(self) -> Result<(), Error> {
        Object::end(self)
    }
}

/// A struct and a struct variant: named fields, one entry writer.
macro_rules! structs {
    ($($trait:ident),*) => {
        $(impl ser::$trait for Object<'_> {
            type Ok = ();
            type Error = Error;
            fn serialize_field<T: Serialize + ?Sized>(
                &mut self,
                key: &'static str,
                value: &T,
            ) -> Result<(), Error> {
                self.entry(key.to_string(), value)
            }
            fn end(self) -> Result<(), Error> {
                Object::end(self)
            }
        })*
    };
}

structs!(SerializeStruct, SerializeStructVariant);

/// A map key as `to_value` takes one: a string, or a number or bool written as a string.
struct KeyName;

macro_rules! keys {
    ($($method:ident: $ty:ty),*) => {
        $(fn $method(self, v: $ty) -> Result<String, Error> {
            Ok(v.to_string())
        })*
    };
}

impl ser::Serializer for KeyName {
    type Ok = String;
    type Error = Error;
    type SerializeSeq = Impossible<String, Error>;
    type SerializeTuple = Impossible<String, Error>;
    type SerializeTupleStruct = Impossible<String, Error>;
    type SerializeTupleVariant = Impossible<String, Error>;
    type SerializeMap = Impossible<String, Error>;
    type SerializeStruct = Impossible<String, Error>;
    type SerializeStructVariant = Impossible<String, Error>;

    keys!(serialize_bool: bool, serialize_i8: i8, serialize_i16: i16, serialize_i32: i32,
        serialize_i64: i64, serialize_i128: i128, serialize_u8: u8, serialize_u16: u16,
        serialize_u32: u32, serialize_u64: u64, serialize_u128: u128, serialize_char: char,
        serialize_str: &str);

    fn serialize_f32(self, _: f32) -> Result<String, Error> {
        Err(not_a_key())
    }
    fn serialize_f64(self, _: f64) -> Result<String, Error> {
        Err(not_a_key())
    }
    fn serialize_bytes(self, _: &[u8]) -> Result<String, Error> {
        Err(not_a_key())
    }
    fn serialize_none(self) -> Result<String, Error> {
        Err(not_a_key())
    }
    fn serialize_some<T: Serialize + ?Sized>(self, _: &T) -> Result<String, Error> {
        Err(not_a_key())
    }
    fn serialize_unit(self) -> Result<String, Error> {
        Err(not_a_key())
    }
    fn serialize_unit_struct(self, _: &'static str) -> Result<String, Error> {
        Err(not_a_key())
    }
    fn serialize_unit_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
    ) -> Result<String, Error> {
        Ok(variant.to_string())
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        value: &T,
    ) -> Result<String, Error> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> Result<String, Error> {
        Err(not_a_key())
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Self::SerializeSeq, Error> {
        Err(not_a_key())
    }
    fn serialize_tuple(self, _: usize) -> Result<Self::SerializeTuple, Error> {
        Err(not_a_key())
    }
    fn serialize_tuple_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleStruct, Error> {
        Err(not_a_key())
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleVariant, Error> {
        Err(not_a_key())
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Self::SerializeMap, Error> {
        Err(not_a_key())
    }
    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Self::SerializeStruct, Error> {
        Err(not_a_key())
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStructVariant, Error> {
        Err(not_a_key())
    }
}

fn not_a_key() -> Error {
    Error("a map key must be a string or a number".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[derive(Serialize)]
    enum Shape {
        Unit,
        New(u32),
        Tuple(u8, String),
        Struct { z: bool, a: Option<f64> },
    }

    #[derive(Serialize)]
    struct Sample {
        zeta: Vec<Shape>,
        alpha: BTreeMap<u16, &'static str>,
        digest: Option<String>,
        values: Value,
        text: &'static str,
        floats: (f32, f64, f64),
        #[serde(skip_serializing_if = "Option::is_none")]
        gone: Option<u8>,
        #[serde(flatten)]
        flat: BTreeMap<String, i64>,
    }

    /// Every serde shape a report could use gives the bytes the `Value` path gives.
    #[test]
    fn the_streamed_form_is_the_value_form_byte_for_byte() {
        let sample = Sample {
            zeta: vec![
                Shape::Unit,
                Shape::New(7),
                Shape::Tuple(1, "é\"\n".into()),
                Shape::Struct {
                    z: true,
                    a: Some(0.1),
                },
            ],
            alpha: BTreeMap::from([(10, "ten"), (9, "nine")]),
            digest: Some("to be nulled".into()),
            values: serde_json::json!({"b": [1, 2.5, null], "a": {"y": 1e300, "x": -0.0}}),
            text: "\u{1F600} tab\t",
            floats: (0.1, f64::NAN, 123_456_789.123_456_79),
            gone: None,
            flat: BTreeMap::from([("mid".to_string(), -3)]),
        };
        let value = serde_json::to_value(&sample).expect("a value");
        for digest_null in [true, false] {
            let streamed = of(&sample, digest_null).expect("canonical");
            let via_value = of_value(&value, digest_null);
            assert_eq!(
                String::from_utf8_lossy(&streamed),
                String::from_utf8_lossy(&via_value)
            );
        }
        let text = String::from_utf8(of(&sample, true).expect("canonical")).expect("utf-8");
        assert!(text.contains(r#""digest":null"#), "{text}");
        assert!(
            text.starts_with(r#"{"alpha":{"10":"ten","9":"nine"},"digest""#),
            "{text}"
        );
    }
}
