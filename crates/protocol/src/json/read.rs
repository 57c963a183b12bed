//! Reading typed values out of a parsed document: the [`FromJson`] trait.

use std::collections::BTreeMap;

use super::{Json, JsonError, Object};

/// A value that can be read from a parsed JSON document, with the same meaning as its
/// derived `serde::Deserialize`: a missing `Option` member is `None`, unknown members
/// are ignored unless the type refuses them, and the wrong kind of value is an error.
///
/// ```
/// use trustyconvert_protocol::json::from_slice;
/// use trustyconvert_protocol::SessionInfo;
///
/// let info: SessionInfo = from_slice(
///     br#"{"id":"s","csrf_token":"t","expires_at":"2026-01-01T00:00:00Z","expires_in":60}"#,
/// )
/// .unwrap();
/// assert_eq!(info.expires_in, 60);
/// ```
pub trait FromJson: Sized {
    /// Reads a value, consuming the document (strings are moved, not copied).
    fn from_json(value: Json) -> Result<Self, JsonError>;
}

/// Parses `bytes` and reads a `T` from them.
pub fn from_slice<T: FromJson>(bytes: &[u8]) -> Result<T, JsonError> {
    T::from_json(Json::parse(bytes)?)
}

impl Json {
    /// The object's members, or an error naming what was expected instead.
    pub fn into_object(self) -> Result<Object, JsonError> {
        match self {
            Json::Object(object) => Ok(object),
            _ => Err(JsonError::expected("an object")),
        }
    }
}

impl Object {
    /// Reads the member `name` (absent reads as `null`), naming it in any error.
    pub fn field<T: FromJson>(&mut self, name: &'static str) -> Result<T, JsonError> {
        T::from_json(self.take(name)).map_err(|error| error.in_field(name))
    }

    /// Refuses members other than those already taken (for types that deny unknown
    /// fields).
    pub fn deny_unknown(&self) -> Result<(), JsonError> {
        match self.names().next() {
            Some(name) => Err(JsonError::UnknownField(name.to_owned())),
            None => Ok(()),
        }
    }
}

impl FromJson for Json {
    fn from_json(value: Json) -> Result<Self, JsonError> {
        Ok(value)
    }
}

impl FromJson for Object {
    fn from_json(value: Json) -> Result<Self, JsonError> {
        value.into_object()
    }
}

impl FromJson for () {
    fn from_json(value: Json) -> Result<Self, JsonError> {
        match value {
            Json::Null => Ok(()),
            _ => Err(JsonError::expected("null")),
        }
    }
}

impl FromJson for String {
    fn from_json(value: Json) -> Result<Self, JsonError> {
        match value {
            Json::String(text) => Ok(text),
            _ => Err(JsonError::expected("a string")),
        }
    }
}

impl FromJson for bool {
    fn from_json(value: Json) -> Result<Self, JsonError> {
        match value {
            Json::Bool(flag) => Ok(flag),
            _ => Err(JsonError::expected("true or false")),
        }
    }
}

macro_rules! integer_from_json {
    ($read:ident: $($integer:ty),*) => {$(
        impl FromJson for $integer {
            fn from_json(value: Json) -> Result<Self, JsonError> {
                value
                    .$read()
                    .and_then(|wide| <$integer>::try_from(wide).ok())
                    .ok_or(JsonError::expected(concat!("an integer (", stringify!($integer), ")")))
            }
        }
    )*};
}
integer_from_json!(as_u64: u8, u32, u64);
integer_from_json!(as_i64: i64);

impl FromJson for f64 {
    fn from_json(value: Json) -> Result<Self, JsonError> {
        match &value {
            Json::Number(text) => text.parse().map_err(|_| JsonError::expected("a number")),
            _ => Err(JsonError::expected("a number")),
        }
    }
}

impl<T: FromJson> FromJson for Option<T> {
    fn from_json(value: Json) -> Result<Self, JsonError> {
        match value {
            Json::Null => Ok(None),
            value => T::from_json(value).map(Some),
        }
    }
}

impl<T: FromJson> FromJson for Vec<T> {
    fn from_json(value: Json) -> Result<Self, JsonError> {
        match value {
            Json::Array(items) => items.into_iter().map(T::from_json).collect(),
            _ => Err(JsonError::expected("an array")),
        }
    }
}

impl<T: FromJson> FromJson for BTreeMap<String, T> {
    fn from_json(value: Json) -> Result<Self, JsonError> {
        value
            .into_object()?
            .into_members()
            .into_iter()
            .map(|(name, value)| Ok((name, T::from_json(value)?)))
            .collect()
    }
}
