//! The SCIM filter grammar (RFC 7644 §3.4.2.2): a typed AST, a parser
//! ([`FromStr`](std::str::FromStr)), a canonical printer ([`Display`](std::fmt::Display))
//! and an evaluator ([`Filter::matches`], [`Filter::matches_element`]).
//!
//! The parser accepts the RFC grammar plus the dialects seen in the wild:
//! keywords, operators and attribute names in any case, Entra's unquoted
//! string values (`externalId eq jdoe`) and the `emails[type eq "work"].value eq "x"`
//! form, which is desugared into a value path.
//!
//! Hostile input is bounded by [`MAX_FILTER_LENGTH`], [`MAX_FILTER_DEPTH`] and
//! [`MAX_FILTER_TERMS`], so that no operation on a parsed filter (printing,
//! evaluation, comparison, cloning, dropping) can recurse deeply.

mod eval;
mod parse;
mod print;

pub use eval::{parse_bool, parse_instant};
pub use parse::parse_number;

use crate::schema::{AttrPath, Attribute, ResourceType};
use crate::ScimError;
use serde_json::Value;

/// The longest filter accepted, in bytes.
pub const MAX_FILTER_LENGTH: usize = 8192;
/// The deepest nesting accepted: each parenthesised group, `not (…)` and
/// value path (`emails[…]`) is one level.
pub const MAX_FILTER_DEPTH: usize = 64;
/// The most attribute expressions (`… eq …`, `… pr`) one filter may hold.
/// This bounds the size of the AST, and so the recursion depth of the derived
/// `Clone`, `PartialEq` and `Drop` and of printing and evaluation.
pub const MAX_FILTER_TERMS: usize = 256;

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CompareOp {
    /// `eq`: equal.
    Eq,
    /// `ne`: not equal (also true when the attribute is absent).
    Ne,
    /// `co`: contains.
    Co,
    /// `sw`: starts with.
    Sw,
    /// `ew`: ends with.
    Ew,
    /// `gt`: greater than.
    Gt,
    /// `lt`: less than.
    Lt,
    /// `ge`: greater than or equal.
    Ge,
    /// `le`: less than or equal.
    Le,
}

impl CompareOp {
    /// The operator's canonical (lower-case) spelling, e.g. `eq`.
    pub fn as_str(self) -> &'static str {
        match self {
            CompareOp::Eq => "eq",
            CompareOp::Ne => "ne",
            CompareOp::Co => "co",
            CompareOp::Sw => "sw",
            CompareOp::Ew => "ew",
            CompareOp::Gt => "gt",
            CompareOp::Lt => "lt",
            CompareOp::Ge => "ge",
            CompareOp::Le => "le",
        }
    }

    /// Parses an operator name case-insensitively (`eq`, `EQ`, `Eq` …).
    pub fn parse(name: &str) -> Option<CompareOp> {
        const ALL: [CompareOp; 9] = [
            CompareOp::Eq,
            CompareOp::Ne,
            CompareOp::Co,
            CompareOp::Sw,
            CompareOp::Ew,
            CompareOp::Gt,
            CompareOp::Lt,
            CompareOp::Ge,
            CompareOp::Le,
        ];
        ALL.into_iter().find(|op| op.as_str().eq_ignore_ascii_case(name))
    }
}

/// A comparison value (`compValue`). Date-times are strings.
#[derive(Debug, Clone, PartialEq)]
pub enum CompValue {
    /// `null`.
    Null,
    /// `true` / `false` (any case).
    Bool(bool),
    /// A JSON number.
    Number(serde_json::Number),
    /// A JSON string, or an unquoted token that is no other value (Entra's `externalId eq jdoe`).
    Str(String),
}

/// A parsed filter.
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    /// `a and b`.
    And(Box<Filter>, Box<Filter>),
    /// `a or b`.
    Or(Box<Filter>, Box<Filter>),
    /// `not (a)`.
    Not(Box<Filter>),
    /// `attr pr`.
    Present(AttrPath),
    /// `attr op value`.
    Compare(AttrPath, CompareOp, CompValue),
    /// `emails[type eq "work"]`: the inner filter's paths are relative to
    /// each element of the multi-valued (or complex) attribute.
    ValuePath(AttrPath, Box<Filter>),
}

impl std::str::FromStr for Filter {
    type Err = ScimError;
    /// Parses a filter. Errors are `invalidFilter` with a detail that names
    /// the 0-based character position and what was expected there.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse::parse(s)
    }
}

impl Filter {
    /// Parses a filter that Roster itself printed from a parsed [`Filter`]
    /// (e.g. to hand it to a database function). Printing can make a filter
    /// longer than [`MAX_FILTER_LENGTH`] (escapes), so the length bound is
    /// relaxed; the depth and term bounds, which protect the stack, still hold.
    pub fn parse_printed(s: &str) -> Result<Filter, ScimError> {
        parse::parse_with_max_length(s, MAX_FILTER_LENGTH.saturating_mul(8))
    }

    /// Whether a SCIM resource (core attributes at the top level, extension
    /// attributes inside an object keyed by the extension URN) matches.
    /// Attribute names are resolved case-insensitively against `rt`; unknown
    /// attributes are looked up by JSON key and compared case-insensitively.
    pub fn matches(&self, resource: &Value, rt: &ResourceType) -> bool {
        eval::eval(self, resource, eval::Scope::Resource(rt))
    }

    /// Whether one element of the multi-valued (or complex) attribute `parent`
    /// matches, with the filter's paths relative to the element: the inner
    /// filter of `emails[type eq "work"]` or `members[value eq "id"]`.
    pub fn matches_element(&self, element: &Value, parent: &Attribute) -> bool {
        eval::eval(self, element, eval::Scope::Element(Some(parent)))
    }

    /// The nesting depth of this filter: 1 for a single attribute expression,
    /// plus one for each `and`/`or`/`not`/value path above it.
    pub fn depth(&self) -> usize {
        // Iterative, so that it is safe on hand-built ASTs of any depth.
        let mut max = 0;
        let mut stack = vec![(self, 1usize)];
        while let Some((f, d)) = stack.pop() {
            max = max.max(d);
            match f {
                Filter::And(a, b) | Filter::Or(a, b) => {
                    stack.push((a, d + 1));
                    stack.push((b, d + 1));
                }
                Filter::Not(a) | Filter::ValuePath(_, a) => stack.push((a, d + 1)),
                Filter::Present(_) | Filter::Compare(..) => {}
            }
        }
        max
    }
}

#[cfg(test)]
mod tests;
