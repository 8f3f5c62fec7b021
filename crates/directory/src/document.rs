//! A JSON object as the store holds it, parsed only when someone looks inside.
//!
//! A GET renders a user by copying most of its stored text (see
//! [`crate::users::render_user_linked_json`]); building a `serde_json::Value`
//! for every read would cost more than the rest of the read. Reading the
//! value (through `Deref`) parses it once; changing it (through `DerefMut`)
//! forgets the stored text, so [`Document::stored_text`] is always exactly
//! what the value serialises to.

use serde_json::Value;
use std::fmt;
use std::ops::{Deref, DerefMut};
use std::sync::OnceLock;

#[derive(Clone, Default)]
pub struct Document {
    /// The text read from the store, while the value is unchanged.
    stored: Option<Box<str>>,
    value: OnceLock<Value>,
}

impl Document {
    /// A document read from the store. Its syntax is checked now, so a
    /// corrupt row fails the read that meets it.
    pub fn from_stored(text: &str) -> Result<Document, serde_json::Error> {
        serde_json::from_str::<serde::de::IgnoredAny>(text)?;
        Ok(Document { stored: Some(text.into()), value: OnceLock::new() })
    }

    /// The stored text, when the document was read from the store in
    /// serde_json's compact form and has not been changed since.
    pub fn stored_text(&self) -> Option<&str> {
        self.stored.as_deref()
    }

    /// The value, parsed now if it was not yet.
    pub fn value(&self) -> &Value {
        self.value.get_or_init(|| parse(self.stored.as_deref()))
    }

    /// Takes the value out.
    pub fn into_value(self) -> Value {
        match self.value.into_inner() {
            Some(v) => v,
            None => parse(self.stored.as_deref()),
        }
    }
}

/// Text checked by [`Document::from_stored`]; `Null` cannot happen there.
fn parse(text: Option<&str>) -> Value {
    text.and_then(|t| serde_json::from_str(t).ok()).unwrap_or(Value::Null)
}

impl From<Value> for Document {
    fn from(value: Value) -> Self {
        Document { stored: None, value: OnceLock::from(value) }
    }
}

impl Deref for Document {
    type Target = Value;
    fn deref(&self) -> &Value {
        self.value()
    }
}

impl DerefMut for Document {
    fn deref_mut(&mut self) -> &mut Value {
        if let Some(text) = self.stored.take() {
            let _ = self.value.set(parse(Some(&text)));
        }
        if self.value.get().is_none() {
            let _ = self.value.set(Value::Null);
        }
        match self.value.get_mut() {
            Some(v) => v,
            None => unreachable!("the value was set above"),
        }
    }
}

impl PartialEq for Document {
    fn eq(&self, other: &Self) -> bool {
        self.value() == other.value()
    }
}

impl PartialEq<Value> for Document {
    fn eq(&self, other: &Value) -> bool {
        self.value() == other
    }
}

impl fmt::Debug for Document {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.value().fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn stored_text_lasts_until_the_first_change() {
        let text = r#"{"userName":"ana","name":{"givenName":"Ana"}}"#;
        let mut doc = Document::from_stored(text).unwrap();
        assert_eq!(doc.stored_text(), Some(text));
        assert_eq!(doc["name"]["givenName"], json!("Ana"));
        assert_eq!(doc.stored_text(), Some(text), "reading keeps the text");
        doc["userName"] = json!("bea");
        assert_eq!(doc.stored_text(), None, "a change forgets it");
        assert_eq!(doc.into_value(), json!({"userName": "bea", "name": {"givenName": "Ana"}}));
    }

    #[test]
    fn corrupt_text_is_refused_when_read() {
        assert!(Document::from_stored(r#"{"userName": "#).is_err());
        assert!(Document::from_stored("{} x").is_err());
    }

    #[test]
    fn values_compare_by_content() {
        let stored = Document::from_stored(r#"{"a":1}"#).unwrap();
        assert_eq!(stored, Document::from(json!({"a": 1})));
        assert!(stored == json!({"a": 1}));
    }
}
