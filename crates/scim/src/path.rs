//! PATCH paths (RFC 7644 §3.5.2): `attrPath`, `valuePath [ "." subAttr ]`.
//!
//! ```text
//! PATH = attrPath / valuePath [subAttr]
//! valuePath = attrPath "[" valFilter "]"
//! ```
//!
//! [`PatchPath::parse`] is purely syntactic; [`PatchPath::resolve`] looks the
//! names up in a [`ResourceType`] (case-insensitively) and refuses unknown
//! attributes with `invalidPath`. A path may also be exactly a schema URN
//! (`urn:ietf:params:scim:schemas:extension:enterprise:2.0:User`), which
//! targets the whole extension object.

use crate::filter::Filter;
use crate::schema::{AttrPath, Attribute, ResourceType, Schema};
use crate::ScimError;
use std::str::FromStr;

/// A parsed PATCH path.
#[derive(Debug, Clone, PartialEq)]
pub struct PatchPath {
    /// The path as the client wrote it, for error messages and for the
    /// whole-schema form.
    pub text: String,
    /// The attribute. For a value path, `sub_attr` is the sub-attribute
    /// after the closing bracket (`emails[type eq "work"].value`).
    pub attr: AttrPath,
    /// The value filter between the brackets, relative to each element.
    pub filter: Option<Filter>,
}

/// What a [`PatchPath`] points at in a resource type.
#[derive(Debug, Clone)]
pub enum PathTarget {
    /// The whole object of a schema (an extension URN as the path).
    Schema(&'static Schema),
    /// An attribute, optionally filtered and/or narrowed to a sub-attribute.
    Attr(AttrTarget),
    /// An attribute outside every schema the resource type announces (a
    /// custom extension Roster does not know, a misspelt name). Such
    /// attributes are accepted and ignored, never an error (`product.md` §3),
    /// so that one unknown mapping does not fail a whole update.
    Unknown(String),
}

/// A resolved attribute target.
#[derive(Debug, Clone)]
pub struct AttrTarget {
    /// The URN of the extension holding the attribute; `None` for core and
    /// common attributes (which live at the top level).
    pub extension: Option<&'static str>,
    /// The top-level attribute.
    pub attribute: &'static Attribute,
    /// The value filter, only for multi-valued attributes.
    pub filter: Option<Filter>,
    /// The sub-attribute, if the path names one.
    pub sub_attribute: Option<&'static Attribute>,
    /// The path text, for error details.
    pub text: String,
}

impl PatchPath {
    /// Parses a PATCH path. Errors are `invalidPath` and say what is wrong.
    pub fn parse(text: &str) -> Result<PatchPath, ScimError> {
        let trimmed = text.trim();
        let bad = |why: &str| ScimError::invalid_path(format!("The PATCH path \"{text}\" is not valid: {why}."));
        if trimmed.is_empty() {
            return Err(bad("it is empty"));
        }
        let Some(open) = trimmed.find('[') else {
            if trimmed.contains(']') {
                return Err(bad("it has a ']' without a '['"));
            }
            let attr = attr_path(trimmed).ok_or_else(|| bad("it is not an attribute name"))?;
            return Ok(PatchPath { text: text.to_string(), attr, filter: None });
        };
        let head = &trimmed[..open];
        let close = matching_bracket(trimmed, open).ok_or_else(|| bad("the '[' is not closed"))?;
        let inner = &trimmed[open + 1..close];
        let tail = &trimmed[close + 1..];
        let mut attr = attr_path(head).ok_or_else(|| bad("the part before '[' is not an attribute name"))?;
        if attr.sub_attr.is_some() {
            return Err(bad("a value filter must follow a top-level attribute"));
        }
        if !tail.is_empty() {
            let sub = tail.strip_prefix('.').ok_or_else(|| bad("only \".subAttribute\" may follow ']'"))?;
            if !crate::schema::is_attr_name(sub) {
                return Err(bad("the part after ']' is not a sub-attribute name"));
            }
            attr.sub_attr = Some(sub.to_string());
        }
        if inner.trim().is_empty() {
            return Err(bad("the value filter is empty"));
        }
        let filter = Filter::from_str(inner).map_err(|e| {
            ScimError::invalid_path(format!("The value filter in \"{text}\" is not valid: {}", e.detail))
        })?;
        Ok(PatchPath { text: text.to_string(), attr, filter: Some(filter) })
    }

    /// Resolves the path against a resource type. Attributes outside the
    /// schemas resolve to [`PathTarget::Unknown`]; a filter on an attribute
    /// that cannot have one is `invalidPath`.
    pub fn resolve(&self, rt: &ResourceType) -> Result<PathTarget, ScimError> {
        if self.filter.is_none() {
            if let Some(schema) = rt.schema_by_urn(self.text.trim()) {
                return Ok(PathTarget::Schema(schema));
            }
        }
        let unknown = || Ok(PathTarget::Unknown(self.text.clone()));
        let resolved = match &self.attr.urn {
            Some(urn) if rt.schema_by_urn(urn).is_none() => return unknown(),
            Some(urn) => rt.resolve(Some(urn), &self.attr.attr),
            None => rt.resolve(None, &self.attr.attr),
        };
        let Some(resolved) = resolved else { return unknown() };
        let attribute = resolved.attribute;
        let sub_attribute = match &self.attr.sub_attr {
            None => None,
            Some(sub) => match attribute.sub_attribute(sub) {
                Some(s) => Some(s),
                None => return unknown(),
            },
        };
        let filterable = attribute.multi_valued && !attribute.sub_attributes.is_empty();
        if self.filter.is_some() && !filterable {
            return Err(ScimError::invalid_path(format!(
                "The PATCH path \"{}\" filters \"{}\", which is not a multi-valued complex attribute.",
                self.text, attribute.name
            )));
        }
        let extension = if resolved.in_extension { resolved.schema.map(|s| s.id) } else { None };
        Ok(PathTarget::Attr(AttrTarget {
            extension,
            attribute,
            filter: self.filter.clone(),
            sub_attribute,
            text: self.text.clone(),
        }))
    }
}

impl FromStr for PatchPath {
    type Err = ScimError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        PatchPath::parse(s)
    }
}

/// [`AttrPath::parse`], kept away from non-ASCII text: attribute names and
/// schema URNs are ASCII, and that parser slices by byte.
pub(crate) fn attr_path(text: &str) -> Option<AttrPath> {
    if text.is_ascii() {
        AttrPath::parse(text)
    } else {
        None
    }
}

/// The index of the `]` closing the `[` at `open`, skipping brackets inside
/// double-quoted strings (with `\` escapes) and nested brackets.
fn matching_bracket(text: &str, open: usize) -> Option<usize> {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for (i, c) in text.char_indices().skip_while(|(i, _)| *i < open) {
        if in_string {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
            continue;
        }
        match c {
            '"' => in_string = true,
            '[' => depth += 1,
            ']' => {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::{ENTERPRISE_USER_SCHEMA_URN, GROUP, USER};
    use crate::ScimType;

    #[test]
    fn path_parses_plain_dotted_and_urn_forms() {
        let p = PatchPath::parse("name.givenName").unwrap();
        assert_eq!(p.attr, AttrPath { urn: None, attr: "name".into(), sub_attr: Some("givenName".into()) });
        assert!(p.filter.is_none());
        let p = PatchPath::parse("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber").unwrap();
        assert_eq!(p.attr.urn.as_deref(), Some(ENTERPRISE_USER_SCHEMA_URN));
        assert_eq!(p.attr.attr, "employeeNumber");
    }

    #[test]
    fn path_brackets_respect_quoted_strings() {
        assert_eq!(matching_bracket(r#"a[b eq "x]y"]"#, 1), Some(12));
        assert_eq!(matching_bracket(r#"a[b eq "x\"]"]"#, 1), Some(13));
        assert_eq!(matching_bracket(r#"a[b eq "x"#, 1), None);
        for bad in
            ["", "emails[", "emails]", "emails[type eq \"work\"]value", "name.x[type eq \"a\"]", "emails[]", "1x"]
        {
            let e = PatchPath::parse(bad).unwrap_err();
            assert_eq!(e.scim_type, Some(ScimType::InvalidPath), "{bad}");
        }
    }

    #[test]
    fn path_resolves_case_insensitively() {
        let p =
            PatchPath { text: "NAME.GivenName".into(), attr: AttrPath::parse("NAME.GivenName").unwrap(), filter: None };
        match p.resolve(&USER).unwrap() {
            PathTarget::Attr(t) => {
                assert_eq!(t.attribute.name, "name");
                assert_eq!(t.sub_attribute.map(|s| s.name), Some("givenName"));
                assert_eq!(t.extension, None);
            }
            other => panic!("{other:?}"),
        }
        match PatchPath::parse("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager")
            .unwrap()
            .resolve(&USER)
            .unwrap()
        {
            PathTarget::Attr(t) => {
                assert_eq!(t.attribute.name, "manager");
                assert_eq!(t.extension, Some(ENTERPRISE_USER_SCHEMA_URN));
            }
            other => panic!("{other:?}"),
        }
        match PatchPath::parse(ENTERPRISE_USER_SCHEMA_URN).unwrap().resolve(&USER).unwrap() {
            PathTarget::Schema(s) => assert_eq!(s.id, ENTERPRISE_USER_SCHEMA_URN),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn path_outside_every_schema_resolves_to_unknown() {
        for text in ["nickname2", "name.bogus", "urn:example:Foo:bar", "members",
                     "urn:ietf:params:scim:schemas:extension:CustomExtensionName:2.0:User:costCode"] {
            match PatchPath::parse(text).unwrap().resolve(&USER).unwrap() {
                PathTarget::Unknown(t) => assert_eq!(t, text),
                other => panic!("{text}: {other:?}"),
            }
        }
        assert!(matches!(PatchPath::parse("members").unwrap().resolve(&GROUP).unwrap(), PathTarget::Attr(_)));
        // Structural errors stay errors.
        let e = PatchPath::parse("displayName[value eq \"x\"]").unwrap().resolve(&USER).unwrap_err();
        assert_eq!(e.scim_type, Some(ScimType::InvalidPath));
    }

    /// Needs the filter parser.
    #[test]
    fn path_value_filter_and_sub_attribute() {
        let p = PatchPath::parse("emails[type eq \"work\"].Value").unwrap();
        assert_eq!(p.attr.attr, "emails");
        assert_eq!(p.attr.sub_attr.as_deref(), Some("Value"));
        assert!(p.filter.is_some());
        match p.resolve(&USER).unwrap() {
            PathTarget::Attr(t) => {
                assert_eq!(t.sub_attribute.map(|s| s.name), Some("value"));
                assert!(t.filter.is_some());
            }
            other => panic!("{other:?}"),
        }
        let p = PatchPath::parse("members[value eq \"a]b\"]").unwrap();
        assert!(p.attr.sub_attr.is_none());
        let e = PatchPath::parse("userName[value eq \"x\"]").unwrap().resolve(&USER).unwrap_err();
        assert_eq!(e.scim_type, Some(ScimType::InvalidPath));
    }
}
