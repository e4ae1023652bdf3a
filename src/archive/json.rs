//! JSON as Python writes it. `json.dump` emits bare `NaN`, `Infinity` and
//! `-Infinity`, which strict parsers (serde_json included) reject. A small
//! pre-pass rewrites those tokens to `null` outside strings; every reader
//! treats `null` as a missing value, which is what these tokens mean in
//! NAS-Bench-Suite-Zero files. Line numbers are preserved (only tokens on a
//! line change), so serde_json's line numbers still point at the right line.
//!
//! [`Json`] is a minimal ordered value: unlike `serde_json::Value` (a sorted
//! map without the `preserve_order` feature) it keeps file order and keeps
//! duplicate object keys, so readers can report duplicates instead of
//! silently keeping the last one.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

use super::error::{ArchiveError, json_message};

/// Rewrites bare `NaN`, `Infinity`, `-Infinity` outside JSON strings to
/// `null`. Bytes inside strings (including escaped quotes) are untouched.
/// Returns the input unchanged when no such token can occur.
pub(crate) fn nan_tokens_to_null(bytes: &[u8]) -> Cow<'_, [u8]> {
    // Fast path: most JSON has neither token anywhere.
    let might = bytes.windows(3).any(|w| w == b"NaN") || bytes.windows(8).any(|w| w == b"Infinity");
    if !might {
        return Cow::Borrowed(bytes);
    }
    let mut out = Vec::with_capacity(bytes.len() + 16);
    let mut in_string = false;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if in_string {
            out.push(b);
            match b {
                b'\\' => {
                    // Copy the escaped byte verbatim so `\"` does not end the string.
                    if let Some(&next) = bytes.get(i + 1) {
                        out.push(next);
                        i += 1;
                    }
                }
                b'"' => in_string = false,
                _ => {}
            }
            i += 1;
            continue;
        }
        let rest = &bytes[i..];
        if b == b'"' {
            in_string = true;
            out.push(b);
            i += 1;
        } else if rest.starts_with(b"-Infinity") {
            out.extend_from_slice(b"null");
            i += 9;
        } else if rest.starts_with(b"Infinity") {
            out.extend_from_slice(b"null");
            i += 8;
        } else if rest.starts_with(b"NaN") {
            out.extend_from_slice(b"null");
            i += 3;
        } else {
            out.push(b);
            i += 1;
        }
    }
    Cow::Owned(out)
}

/// An ordered JSON value that keeps duplicate keys.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Json {
    Null,
    Bool(bool),
    Num(f64),
    Str(String),
    Arr(Vec<Json>),
    Obj(Vec<(String, Json)>),
}

impl Json {
    pub(crate) fn as_obj(&self) -> Option<&[(String, Json)]> {
        match self {
            Json::Obj(fields) => Some(fields),
            _ => None,
        }
    }

    pub(crate) fn get(&self, key: &str) -> Option<&Json> {
        self.as_obj()?.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// What the value is, for "expected X, found Y" messages.
    pub(crate) fn describe(&self) -> String {
        match self {
            Json::Null => "null (or NaN/Infinity)".to_string(),
            Json::Bool(b) => format!("`{b}`"),
            Json::Num(v) => format!("the number {v}"),
            Json::Str(s) => {
                let short: String = s.chars().take(40).collect();
                format!("the string \"{short}\"")
            }
            Json::Arr(_) => "an array".to_string(),
            Json::Obj(_) => "an object".to_string(),
        }
    }
}

/// Parses NaN-tolerant JSON into a [`Json`] tree; syntax errors carry the
/// file name, line and column.
pub(crate) fn parse(bytes: &[u8], file: &str) -> Result<Json, ArchiveError> {
    let cleaned = nan_tokens_to_null(bytes);
    serde_json::from_slice(&cleaned).map_err(|e| ArchiveError::Syntax {
        file: file.to_string(),
        line: e.line() as u64,
        column: e.column() as u64,
        message: json_message(&e),
    })
}

impl<'de> Deserialize<'de> for Json {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(JsonVisitor)
    }
}

struct JsonVisitor;

impl<'de> Visitor<'de> for JsonVisitor {
    type Value = Json;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_unit<E: de::Error>(self) -> Result<Json, E> {
        Ok(Json::Null)
    }
    fn visit_none<E: de::Error>(self) -> Result<Json, E> {
        Ok(Json::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Json, D::Error> {
        Json::deserialize(d)
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Json, E> {
        Ok(Json::Bool(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Json, E> {
        Ok(Json::Num(v as f64))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Json, E> {
        Ok(Json::Num(v as f64))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Json, E> {
        Ok(Json::Num(v))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Json, E> {
        Ok(Json::Str(v.to_string()))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Json, E> {
        Ok(Json::Str(v))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Json, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Json>()? {
            items.push(item);
        }
        Ok(Json::Arr(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Json, A::Error> {
        let mut fields = Vec::new();
        while let Some((k, v)) = map.next_entry::<String, Json>()? {
            fields.push((k, v));
        }
        Ok(Json::Obj(fields))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rewrite(s: &str) -> String {
        String::from_utf8(nan_tokens_to_null(s.as_bytes()).into_owned()).unwrap()
    }

    #[test]
    fn bare_tokens_become_null_but_strings_are_untouched() {
        assert_eq!(
            rewrite(r#"{"a": NaN, "b": [Infinity, -Infinity], "NaN": "Infinity -Infinity NaN"}"#),
            r#"{"a": null, "b": [null, null], "NaN": "Infinity -Infinity NaN"}"#
        );
        // An escaped quote must not end the string early.
        assert_eq!(rewrite(r#"{"x\"NaN": NaN}"#), r#"{"x\"NaN": null}"#);
        // Nothing to do: borrowed.
        assert!(matches!(nan_tokens_to_null(b"{\"a\": 1}"), Cow::Borrowed(_)));
    }

    #[test]
    fn json_keeps_order_and_duplicates() {
        let v = parse(br#"{"z": 1, "a": NaN, "z": {"score": -Infinity}}"#, "t.json").unwrap();
        let obj = v.as_obj().unwrap();
        let keys: Vec<&str> = obj.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["z", "a", "z"]);
        assert_eq!(obj[1].1, Json::Null);
        assert_eq!(obj[2].1.get("score"), Some(&Json::Null));
    }

    #[test]
    fn syntax_errors_name_file_line_and_column() {
        let err = parse(b"{\n\"a\": [1, 2,\n", "broken.json").unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("broken.json"), "{msg}");
        assert!(matches!(err, ArchiveError::Syntax { line: 3, .. }), "{msg}");
    }
}
