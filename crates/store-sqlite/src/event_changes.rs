//! How an event's `changes` is stored.
//!
//! The directory hands over a list of `{"field": …, "from": …, "to": …}`. In a
//! create's list every `from` is null, and the list holds the whole new user:
//! most of the event row, which every create writes, fsyncs and checkpoints.
//! Such a list is stored as one object of field → new value (about 40 %
//! shorter) and expanded again when read; any other list is stored as is.

use directory::events::change;
use directory::DirectoryError;
use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::Value;

/// The stored text of `changes`.
pub fn to_stored(changes: &Value) -> Result<String, DirectoryError> {
    if changes.is_object() {
        // The stored object form means a create's list; a bare object would read back as one.
        return Err(DirectoryError::Store("an event's changes must be a list, not an object".into()));
    }
    let text = match created_fields(changes) {
        Some(fields) => serde_json::to_string(&FieldMap(&fields)),
        None => serde_json::to_string(changes),
    };
    text.map_err(|e| DirectoryError::Store(e.to_string()))
}

/// `changes` as [`to_stored`] was given it.
pub fn from_stored(text: &str) -> Result<Value, DirectoryError> {
    let stored: Value =
        serde_json::from_str(text).map_err(|e| DirectoryError::Store(format!("bad JSON in the database: {e}")))?;
    Ok(match stored {
        Value::Object(fields) => {
            Value::Array(fields.into_iter().map(|(field, to)| change(field, Value::Null, to)).collect())
        }
        list => list,
    })
}

/// The `(field, to)` pairs of a non-empty list whose entries are exactly
/// `{"field", "from": null, "to"}`, in that key order, with distinct fields:
/// what the object form gives back unchanged.
fn created_fields(changes: &Value) -> Option<Vec<(&str, &Value)>> {
    let entries = changes.as_array().filter(|e| !e.is_empty())?;
    let mut fields: Vec<(&str, &Value)> = Vec::with_capacity(entries.len());
    for entry in entries {
        let mut keys = entry.as_object()?.iter();
        let (Some(("field", Value::String(field))), Some(("from", Value::Null)), Some(("to", to)), None) = (
            keys.next().map(|(k, v)| (k.as_str(), v)),
            keys.next().map(|(k, v)| (k.as_str(), v)),
            keys.next().map(|(k, v)| (k.as_str(), v)),
            keys.next(),
        ) else {
            return None;
        };
        if fields.iter().any(|(f, _)| *f == field) {
            return None;
        }
        fields.push((field, to));
    }
    Some(fields)
}

/// Serializes `(field, to)` pairs as one JSON object, without building it.
struct FieldMap<'a>(&'a [(&'a str, &'a Value)]);

impl Serialize for FieldMap<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (field, to) in self.0 {
            map.serialize_entry(field, to)?;
        }
        map.end()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    fn round_trip(changes: Value) -> String {
        let stored = to_stored(&changes).unwrap();
        assert_eq!(from_stored(&stored).unwrap(), changes, "{stored}");
        // Key order survives too: the API shows entries as the directory made them.
        assert_eq!(
            serde_json::to_string(&from_stored(&stored).unwrap()).unwrap(),
            serde_json::to_string(&changes).unwrap()
        );
        stored
    }

    #[test]
    fn a_create_is_stored_as_one_object() {
        let stored = round_trip(json!([
            {"field": "userName", "from": null, "to": "ann"},
            {"field": "emails", "from": null, "to": [{"value": "a@x.example", "primary": true}]},
            {"field": "active", "from": null, "to": true},
            {"field": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department", "from": null, "to": "R&D"},
        ]));
        assert!(stored.starts_with("{\"userName\":\"ann\""), "{stored}");
    }

    #[test]
    fn other_lists_are_stored_as_they_are() {
        for changes in [
            json!([]),
            json!([{"field": "title", "from": "A", "to": "B"}]),
            json!([{"field": "title", "from": null, "to": "B"}, {"field": "title", "from": null, "to": "C"}]),
            json!([{"from": null, "field": "title", "to": "B"}]),
            json!([{"field": "title", "from": null, "to": "B", "note": 1}]),
            json!([{"field": 7, "from": null, "to": "B"}]),
            json!([{"field": "members", "from": null, "to": null}, "odd"]),
        ] {
            let stored = to_stored(&changes).unwrap();
            assert_eq!(stored, serde_json::to_string(&changes).unwrap());
            assert_eq!(from_stored(&stored).unwrap(), changes);
        }
        assert!(to_stored(&json!({"not": "a list"})).is_err());
    }

    #[test]
    fn rows_written_before_read_back_unchanged() {
        let old = r#"[{"field":"userName","from":null,"to":"ann"}]"#;
        assert_eq!(from_stored(old).unwrap(), json!([{"field": "userName", "from": null, "to": "ann"}]));
    }
}
