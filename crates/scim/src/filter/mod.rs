//! The SCIM filter grammar (RFC 7644 §3.4.2.2): a typed AST, a parser, a
//! printer and an evaluator. (Being implemented: see the module owner.)

use crate::schema::{Attribute, AttrPath, ResourceType};
use crate::ScimError;
use serde_json::Value;

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CompareOp {
    Eq,
    Ne,
    Co,
    Sw,
    Ew,
    Gt,
    Lt,
    Ge,
    Le,
}

/// A comparison value (`compValue`). Date-times are strings.
#[derive(Debug, Clone, PartialEq)]
pub enum CompValue {
    Null,
    Bool(bool),
    Number(serde_json::Number),
    Str(String),
}

/// A parsed filter.
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    And(Box<Filter>, Box<Filter>),
    Or(Box<Filter>, Box<Filter>),
    Not(Box<Filter>),
    Present(AttrPath),
    Compare(AttrPath, CompareOp, CompValue),
    /// `emails[type eq "work"]`: the inner filter's paths are relative to
    /// each element of the multi-valued (or complex) attribute.
    ValuePath(AttrPath, Box<Filter>),
}

impl std::str::FromStr for Filter {
    type Err = ScimError;
    fn from_str(_s: &str) -> Result<Self, Self::Err> {
        Err(ScimError::invalid_filter("filters are not implemented yet"))
    }
}

impl Filter {
    pub fn matches(&self, _resource: &Value, _rt: &ResourceType) -> bool {
        false
    }
    pub fn matches_element(&self, _element: &Value, _parent: &Attribute) -> bool {
        false
    }
}
