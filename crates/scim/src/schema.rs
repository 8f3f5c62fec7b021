//! The SCIM schemas as data (RFC 7643 §4, §7, §8.7) and everything that is
//! driven by them: attribute lookup, value coercion, normalisation of incoming
//! resources and the discovery documents.

mod data;
mod discovery;
mod normalize;

pub use data::*;
pub use discovery::{resource_types_document, schemas_document, service_provider_config, ServiceProviderOptions};
pub use normalize::{coerce_value, normalize, Normalized};

use std::fmt;

/// URN of the core User schema.
pub const USER_SCHEMA_URN: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
/// URN of the Enterprise User extension.
pub const ENTERPRISE_USER_SCHEMA_URN: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
/// URN of the core Group schema.
pub const GROUP_SCHEMA_URN: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";

/// A SCIM attribute type (RFC 7643 §2.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttrType {
    String,
    Boolean,
    Decimal,
    Integer,
    DateTime,
    Binary,
    Reference,
    Complex,
}

/// When an attribute may be written (RFC 7643 §7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mutability {
    ReadOnly,
    ReadWrite,
    Immutable,
    WriteOnly,
}

/// When an attribute is returned (RFC 7643 §7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Returned {
    Always,
    Never,
    Default,
    Request,
}

/// Uniqueness of an attribute's value (RFC 7643 §7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Uniqueness {
    None,
    Server,
    Global,
}

/// One attribute definition. Built with `const` helpers so that the schemas
/// are plain static data.
#[derive(Debug, Clone, Copy)]
pub struct Attribute {
    pub name: &'static str,
    pub ty: AttrType,
    pub multi_valued: bool,
    pub required: bool,
    pub case_exact: bool,
    pub mutability: Mutability,
    pub returned: Returned,
    pub uniqueness: Uniqueness,
    pub description: &'static str,
    pub sub_attributes: &'static [Attribute],
    pub canonical_values: &'static [&'static str],
    pub reference_types: &'static [&'static str],
}

impl Attribute {
    /// A single-valued, optional, readWrite, case-insensitive attribute.
    pub const fn new(name: &'static str, ty: AttrType, description: &'static str) -> Self {
        Attribute {
            name,
            ty,
            multi_valued: false,
            required: false,
            case_exact: false,
            mutability: Mutability::ReadWrite,
            returned: Returned::Default,
            uniqueness: Uniqueness::None,
            description,
            sub_attributes: &[],
            canonical_values: &[],
            reference_types: &[],
        }
    }
    pub const fn multi(mut self) -> Self {
        self.multi_valued = true;
        self
    }
    pub const fn required(mut self) -> Self {
        self.required = true;
        self
    }
    pub const fn case_exact(mut self) -> Self {
        self.case_exact = true;
        self
    }
    pub const fn mutability(mut self, m: Mutability) -> Self {
        self.mutability = m;
        self
    }
    pub const fn returned(mut self, r: Returned) -> Self {
        self.returned = r;
        self
    }
    pub const fn unique(mut self, u: Uniqueness) -> Self {
        self.uniqueness = u;
        self
    }
    pub const fn subs(mut self, subs: &'static [Attribute]) -> Self {
        self.sub_attributes = subs;
        self
    }
    pub const fn canonical(mut self, values: &'static [&'static str]) -> Self {
        self.canonical_values = values;
        self
    }
    pub const fn refs(mut self, types: &'static [&'static str]) -> Self {
        self.reference_types = types;
        self
    }

    /// A sub-attribute by name, case-insensitively.
    pub fn sub_attribute(&self, name: &str) -> Option<&'static Attribute> {
        self.sub_attributes.iter().find(|a| a.name.eq_ignore_ascii_case(name))
    }

    /// Whether a client may write this attribute at all.
    pub fn is_writable(&self) -> bool {
        !matches!(self.mutability, Mutability::ReadOnly)
    }
}

/// A schema: its URN and attributes.
#[derive(Debug)]
pub struct Schema {
    pub id: &'static str,
    pub name: &'static str,
    pub description: &'static str,
    pub attributes: &'static [Attribute],
}

impl Schema {
    /// A top-level attribute of this schema, case-insensitively.
    pub fn attribute(&self, name: &str) -> Option<&'static Attribute> {
        self.attributes.iter().find(|a| a.name.eq_ignore_ascii_case(name))
    }
}

/// A schema extension of a resource type.
#[derive(Debug)]
pub struct SchemaExtension {
    pub schema: &'static Schema,
    pub required: bool,
}

/// A resource type (RFC 7643 §6): its endpoint, core schema and extensions.
#[derive(Debug)]
pub struct ResourceType {
    pub id: &'static str,
    pub name: &'static str,
    pub endpoint: &'static str,
    pub description: &'static str,
    pub schema: &'static Schema,
    pub extensions: &'static [SchemaExtension],
}

/// Where an attribute lives in a resource's JSON.
#[derive(Debug, Clone, Copy)]
pub struct ResolvedAttr {
    /// The schema that defines it; `None` for the common attributes (`id`, `externalId`, `meta`).
    pub schema: Option<&'static Schema>,
    /// Whether it lives inside an extension object keyed by the schema URN.
    pub in_extension: bool,
    pub attribute: &'static Attribute,
}

impl ResourceType {
    /// The core schema followed by the extension schemas.
    pub fn schemas(&self) -> impl Iterator<Item = &'static Schema> + '_ {
        std::iter::once(self.schema).chain(self.extensions.iter().map(|e| e.schema))
    }

    /// An extension schema by URN, case-insensitively.
    pub fn extension(&self, urn: &str) -> Option<&'static Schema> {
        self.extensions.iter().map(|e| e.schema).find(|s| s.id.eq_ignore_ascii_case(urn))
    }

    /// Any schema of this resource type (core or extension) by URN.
    pub fn schema_by_urn(&self, urn: &str) -> Option<&'static Schema> {
        self.schemas().find(|s| s.id.eq_ignore_ascii_case(urn))
    }

    /// Resolves a top-level attribute. With a URN, only that schema is searched.
    /// Without one, the common attributes, then the core schema, then the
    /// extensions (so `manager` and `department` resolve to the enterprise
    /// extension). All matching is case-insensitive.
    pub fn resolve(&self, urn: Option<&str>, name: &str) -> Option<ResolvedAttr> {
        match urn {
            Some(urn) => {
                let schema = self.schema_by_urn(urn)?;
                let attribute = schema.attribute(name)?;
                Some(ResolvedAttr {
                    schema: Some(schema),
                    in_extension: !std::ptr::eq(schema, self.schema),
                    attribute,
                })
            }
            None => {
                if let Some(attribute) = COMMON_ATTRIBUTES.iter().find(|a| a.name.eq_ignore_ascii_case(name)) {
                    return Some(ResolvedAttr { schema: None, in_extension: false, attribute });
                }
                if let Some(attribute) = self.schema.attribute(name) {
                    return Some(ResolvedAttr { schema: Some(self.schema), in_extension: false, attribute });
                }
                self.extensions.iter().find_map(|e| {
                    e.schema.attribute(name).map(|attribute| ResolvedAttr {
                        schema: Some(e.schema),
                        in_extension: true,
                        attribute,
                    })
                })
            }
        }
    }

    /// Resolves an [`AttrPath`] to its attribute and, if named, sub-attribute.
    pub fn resolve_path(&self, path: &AttrPath) -> Option<(ResolvedAttr, Option<&'static Attribute>)> {
        let top = self.resolve(path.urn.as_deref(), &path.attr)?;
        match &path.sub_attr {
            None => Some((top, None)),
            Some(sub) => top.attribute.sub_attribute(sub).map(|s| (top, Some(s))),
        }
    }
}

/// An attribute path as used in filters, `attributes=` and PATCH:
/// `[urn ":"] attr ["." subAttr]`. Names keep the case they were written in;
/// use [`ResourceType::resolve_path`] to find the attribute.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AttrPath {
    pub urn: Option<String>,
    pub attr: String,
    pub sub_attr: Option<String>,
}

impl AttrPath {
    /// A path to a top-level attribute.
    pub fn new(attr: impl Into<String>) -> Self {
        AttrPath { urn: None, attr: attr.into(), sub_attr: None }
    }

    /// Parses `[urn:]attr[.sub]`. The URN is everything up to the last `:`.
    /// Returns `None` if a name is empty or holds characters that no
    /// attribute name may hold (RFC 7643 §2.1: `ALPHA *(nameChar)`, `$ref`).
    pub fn parse(text: &str) -> Option<AttrPath> {
        let (urn, rest) = if text.len() > 4 && text.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("urn:")) {
            let idx = text.rfind(':')?;
            (Some(text[..idx].to_string()), &text[idx + 1..])
        } else {
            (None, text)
        };
        let (attr, sub) = match rest.split_once('.') {
            Some((a, s)) => (a, Some(s)),
            None => (rest, None),
        };
        if !is_attr_name(attr) || sub.is_some_and(|s| !is_attr_name(s)) {
            return None;
        }
        Some(AttrPath { urn, attr: attr.to_string(), sub_attr: sub.map(str::to_string) })
    }
}

/// RFC 7643 §2.1 ATTRNAME, plus `$ref`.
pub fn is_attr_name(name: &str) -> bool {
    if name == "$ref" {
        return true;
    }
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

impl fmt::Display for AttrPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(urn) = &self.urn {
            write!(f, "{urn}:")?;
        }
        f.write_str(&self.attr)?;
        if let Some(sub) = &self.sub_attr {
            write!(f, ".{sub}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attr_path_parses_urn_and_sub_attribute() {
        let p = AttrPath::parse("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value").unwrap();
        assert_eq!(p.urn.as_deref(), Some(ENTERPRISE_USER_SCHEMA_URN));
        assert_eq!(p.attr, "manager");
        assert_eq!(p.sub_attr.as_deref(), Some("value"));
        assert_eq!(p.to_string(), "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value");
        assert_eq!(AttrPath::parse("name.givenName").unwrap().sub_attr.as_deref(), Some("givenName"));
        assert!(AttrPath::parse("1abc").is_none());
        assert!(AttrPath::parse("").is_none());
        assert!(AttrPath::parse("a b").is_none());
        // Byte 4 inside a multi-byte character must not panic (found by proptest).
        assert!(AttrPath::parse("%.6Ѩ").is_none());
        assert!(AttrPath::parse("urnѨ:x").is_none());
    }

    #[test]
    fn lookup_is_case_insensitive_and_finds_extensions() {
        let r = USER.resolve(None, "Department").unwrap();
        assert!(r.in_extension);
        assert_eq!(r.attribute.name, "department");
        let emails = USER.resolve(None, "EMAILS").unwrap().attribute;
        assert_eq!(emails.sub_attribute("Primary").unwrap().name, "primary");
        assert_eq!(emails.sub_attribute("Value").unwrap().name, "value");
        let r = USER.resolve(Some("urn:ietf:params:scim:schemas:core:2.0:user"), "USERNAME").unwrap();
        assert!(!r.in_extension);
        assert_eq!(r.attribute.name, "userName");
        assert_eq!(USER.resolve(None, "id").unwrap().attribute.mutability, Mutability::ReadOnly);
        assert!(USER.resolve(None, "nonsense").is_none());
    }
}
