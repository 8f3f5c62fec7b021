//! Recursive-descent parser for RFC 7644 §3.4.2.2 filters.
//!
//! `and`/`or` chains are parsed by loops (left-associative), so recursion only
//! happens for parentheses, `not (…)` and value paths, which are bounded by
//! [`MAX_FILTER_DEPTH`].

use super::{CompValue, CompareOp, Filter, MAX_FILTER_DEPTH, MAX_FILTER_LENGTH, MAX_FILTER_TERMS};
use crate::schema::{is_attr_name, AttrPath};
use crate::ScimError;

const OPERATORS: &str = "a comparison operator (eq, ne, co, sw, ew, gt, lt, ge, le) or pr";

pub(super) fn parse(input: &str) -> Result<Filter, ScimError> {
    parse_with_max_length(input, MAX_FILTER_LENGTH)
}

/// Parses with a custom length bound; depth and term bounds always apply.
pub(super) fn parse_with_max_length(input: &str, max_length: usize) -> Result<Filter, ScimError> {
    if input.len() > max_length {
        return Err(ScimError::invalid_filter(format!(
            "Invalid filter: the filter is {} bytes long; at most {MAX_FILTER_LENGTH} are accepted",
            input.len()
        )));
    }
    if input.trim().is_empty() {
        return Err(ScimError::invalid_filter("Invalid filter: the filter is empty"));
    }
    let mut p = Parser { chars: input.chars().collect(), pos: 0, terms: 0 };
    let filter = p.parse_or(0, false)?;
    p.skip_ws();
    if p.pos < p.chars.len() {
        return Err(p.expected("\"and\", \"or\" or the end of the filter"));
    }
    Ok(filter)
}

/// Characters that end a bare token (path, operator, keyword, unquoted value).
fn is_delim(c: char) -> bool {
    c.is_whitespace() || matches!(c, '(' | ')' | '[' | ']' | '"')
}

struct Parser {
    chars: Vec<char>,
    /// Current position, in characters.
    pos: usize,
    /// Attribute expressions seen so far (see [`MAX_FILTER_TERMS`]).
    terms: usize,
}

impl Parser {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn skip_ws(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.pos += 1;
        }
    }

    /// The bare token at the current position (may be empty), without consuming it.
    fn word_at(&self, pos: usize) -> (String, usize) {
        let mut end = pos;
        while self.chars.get(end).is_some_and(|&c| !is_delim(c)) {
            end += 1;
        }
        (self.chars.get(pos..end).unwrap_or_default().iter().collect(), end)
    }

    /// A description of what is at the current position, for error messages.
    fn found(&self) -> String {
        match self.peek() {
            None => "end of input".to_string(),
            Some(c) if is_delim(c) => format!("{:?}", c.to_string()),
            Some(_) => {
                let (word, _) = self.word_at(self.pos);
                let shown: String = word.chars().take(40).collect();
                if shown.len() < word.len() {
                    format!("{:?}…", shown)
                } else {
                    format!("{shown:?}")
                }
            }
        }
    }

    fn error_at(&self, pos: usize, message: impl std::fmt::Display) -> ScimError {
        ScimError::invalid_filter(format!("Invalid filter at position {pos}: {message}"))
    }

    fn expected(&self, what: &str) -> ScimError {
        self.error_at(self.pos, format_args!("expected {what}, found {}", self.found()))
    }

    /// Consumes the keyword `kw` (case-insensitive, whole token) if it is next.
    fn eat_keyword(&mut self, kw: &str) -> bool {
        let (word, end) = self.word_at(self.pos);
        if word.eq_ignore_ascii_case(kw) {
            self.pos = end;
            true
        } else {
            false
        }
    }

    fn enter(&self, depth: usize) -> Result<usize, ScimError> {
        if depth >= MAX_FILTER_DEPTH {
            return Err(
                self.error_at(self.pos, format_args!("the filter is nested more than {MAX_FILTER_DEPTH} levels deep"))
            );
        }
        Ok(depth + 1)
    }

    fn count_term(&mut self, start: usize) -> Result<(), ScimError> {
        self.terms += 1;
        if self.terms > MAX_FILTER_TERMS {
            return Err(
                self.error_at(start, format_args!("the filter has more than {MAX_FILTER_TERMS} attribute expressions"))
            );
        }
        Ok(())
    }

    /// `or`-separated list of `and`-separated lists.
    fn parse_or(&mut self, depth: usize, in_value_path: bool) -> Result<Filter, ScimError> {
        let mut left = self.parse_and(depth, in_value_path)?;
        loop {
            self.skip_ws();
            if !self.eat_keyword("or") {
                return Ok(left);
            }
            let right = self.parse_and(depth, in_value_path)?;
            left = Filter::Or(Box::new(left), Box::new(right));
        }
    }

    fn parse_and(&mut self, depth: usize, in_value_path: bool) -> Result<Filter, ScimError> {
        let mut left = self.parse_unary(depth, in_value_path)?;
        loop {
            self.skip_ws();
            if !self.eat_keyword("and") {
                return Ok(left);
            }
            let right = self.parse_unary(depth, in_value_path)?;
            left = Filter::And(Box::new(left), Box::new(right));
        }
    }

    /// `( FILTER )`, `not ( FILTER )` or an attribute expression / value path.
    fn parse_unary(&mut self, depth: usize, in_value_path: bool) -> Result<Filter, ScimError> {
        self.skip_ws();
        if self.peek() == Some('(') {
            let depth = self.enter(depth)?;
            self.pos += 1;
            let inner = self.parse_or(depth, in_value_path)?;
            self.expect_char(')')?;
            return Ok(inner);
        }
        // `not` is a keyword only when a `(` follows; otherwise it is an attribute name.
        let (word, end) = self.word_at(self.pos);
        if word.eq_ignore_ascii_case("not") {
            let mut after = end;
            while self.chars.get(after).is_some_and(|c| c.is_whitespace()) {
                after += 1;
            }
            if self.chars.get(after) == Some(&'(') {
                let depth = self.enter(depth)?;
                self.pos = after + 1;
                let inner = self.parse_or(depth, in_value_path)?;
                self.expect_char(')')?;
                return Ok(Filter::Not(Box::new(inner)));
            }
        }
        self.parse_attr_exp(depth, in_value_path)
    }

    fn expect_char(&mut self, c: char) -> Result<(), ScimError> {
        self.skip_ws();
        if self.peek() == Some(c) {
            self.pos += 1;
            Ok(())
        } else {
            let what = match c {
                ')' => "\"and\", \"or\" or \")\"",
                ']' => "\"and\", \"or\" or \"]\"",
                _ => "a delimiter",
            };
            Err(self.expected(what))
        }
    }

    /// `attrPath pr`, `attrPath op value`, `attrPath[valFilter]` and
    /// `attrPath[valFilter].sub (pr | op value)`.
    fn parse_attr_exp(&mut self, depth: usize, in_value_path: bool) -> Result<Filter, ScimError> {
        let start = self.pos;
        let (word, end) = self.word_at(self.pos);
        // Attribute names and URNs are ASCII; checking first also keeps
        // `AttrPath::parse` away from non-ASCII input it cannot slice.
        let Some(path) = Some(&word).filter(|w| w.is_ascii()).and_then(|w| AttrPath::parse(w)) else {
            return Err(self.expected("an attribute path, \"(\" or \"not (\""));
        };
        self.pos = end;
        self.skip_ws();
        if self.peek() != Some('[') {
            return self.parse_comparison(path, start);
        }
        if in_value_path {
            return Err(self.error_at(self.pos, "a value filter (\"[…]\") cannot be nested inside another one"));
        }
        if path.sub_attr.is_some() {
            return Err(self.error_at(
                self.pos,
                format_args!("a value filter (\"[…]\") cannot follow the sub-attribute path {path}"),
            ));
        }
        let depth = self.enter(depth)?;
        self.pos += 1;
        let inner = self.parse_or(depth, true)?;
        self.expect_char(']')?;
        // Entra's `emails[type eq "work"].value eq "x"`: desugar into the value path.
        if self.peek() == Some('.') {
            self.pos += 1;
            let sub_start = self.pos;
            let (sub, end) = self.word_at(self.pos);
            if !is_attr_name(&sub) {
                return Err(self.expected("a sub-attribute name"));
            }
            self.pos = end;
            let cmp = self.parse_comparison(AttrPath::new(sub), sub_start)?;
            return Ok(Filter::ValuePath(path, Box::new(Filter::And(Box::new(inner), Box::new(cmp)))));
        }
        Ok(Filter::ValuePath(path, Box::new(inner)))
    }

    /// After an attribute path: `pr` or `op value`.
    fn parse_comparison(&mut self, path: AttrPath, start: usize) -> Result<Filter, ScimError> {
        self.count_term(start)?;
        self.skip_ws();
        let (word, end) = self.word_at(self.pos);
        if word.eq_ignore_ascii_case("pr") {
            self.pos = end;
            return Ok(Filter::Present(path));
        }
        let Some(op) = CompareOp::parse(&word) else {
            return Err(self.expected(OPERATORS));
        };
        self.pos = end;
        self.skip_ws();
        let value = self.parse_value()?;
        Ok(Filter::Compare(path, op, value))
    }

    /// `compValue`: a JSON string, number, `true`, `false`, `null` (any case),
    /// or a bare token, taken as a string (Entra's `externalId eq jdoe`).
    fn parse_value(&mut self) -> Result<CompValue, ScimError> {
        if self.peek() == Some('"') {
            return self.parse_string().map(CompValue::Str);
        }
        let (word, end) = self.word_at(self.pos);
        if word.is_empty() {
            return Err(self.expected("a value (a string, number, true, false or null)"));
        }
        self.pos = end;
        let value = if word.eq_ignore_ascii_case("true") {
            CompValue::Bool(true)
        } else if word.eq_ignore_ascii_case("false") {
            CompValue::Bool(false)
        } else if word.eq_ignore_ascii_case("null") {
            CompValue::Null
        } else if let Some(n) = parse_number(&word) {
            CompValue::Number(n)
        } else {
            CompValue::Str(word)
        };
        Ok(value)
    }

    /// A JSON string starting at the current `"`.
    fn parse_string(&mut self) -> Result<String, ScimError> {
        let start = self.pos;
        self.pos += 1;
        let mut out = String::new();
        loop {
            let Some(c) = self.peek() else {
                return Err(self.error_at(start, "unterminated string (missing closing \")"));
            };
            self.pos += 1;
            match c {
                '"' => return Ok(out),
                '\\' => {
                    let esc_pos = self.pos - 1;
                    let Some(e) = self.peek() else {
                        return Err(self.error_at(start, "unterminated string (missing closing \")"));
                    };
                    self.pos += 1;
                    match e {
                        '"' => out.push('"'),
                        '\\' => out.push('\\'),
                        '/' => out.push('/'),
                        'b' => out.push('\u{8}'),
                        'f' => out.push('\u{c}'),
                        'n' => out.push('\n'),
                        'r' => out.push('\r'),
                        't' => out.push('\t'),
                        'u' => out.push(self.parse_unicode_escape(esc_pos)?),
                        _ => {
                            return Err(
                                self.error_at(esc_pos, format_args!("invalid escape sequence \"\\{e}\" in string"))
                            )
                        }
                    }
                }
                c => out.push(c),
            }
        }
    }

    fn hex4(&mut self, esc_pos: usize) -> Result<u32, ScimError> {
        let mut v = 0u32;
        for _ in 0..4 {
            let d = self.peek().and_then(|c| c.to_digit(16));
            let Some(d) = d else {
                return Err(self.error_at(esc_pos, "invalid \\u escape in string: expected 4 hex digits"));
            };
            v = v * 16 + d;
            self.pos += 1;
        }
        Ok(v)
    }

    /// After `\u`: 4 hex digits, and a second `\uXXXX` for a surrogate pair.
    fn parse_unicode_escape(&mut self, esc_pos: usize) -> Result<char, ScimError> {
        let hi = self.hex4(esc_pos)?;
        let code = if (0xD800..0xDC00).contains(&hi) {
            if self.peek() != Some('\\') || self.chars.get(self.pos + 1) != Some(&'u') {
                return Err(self.error_at(esc_pos, "unpaired surrogate in \\u escape"));
            }
            self.pos += 2;
            let lo = self.hex4(esc_pos)?;
            if !(0xDC00..0xE000).contains(&lo) {
                return Err(self.error_at(esc_pos, "unpaired surrogate in \\u escape"));
            }
            0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
        } else {
            hi
        };
        char::from_u32(code).ok_or_else(|| self.error_at(esc_pos, "unpaired surrogate in \\u escape"))
    }
}

/// A JSON number (RFC 8259 grammar), or `None` (also for floats out of range).
/// Floats are parsed by the standard library, which rounds correctly, so that
/// printing and re-parsing a number gives the same value.
pub fn parse_number(s: &str) -> Option<serde_json::Number> {
    let b = s.as_bytes();
    let mut i = usize::from(b.first() == Some(&b'-'));
    let digits = |i: &mut usize| {
        let start = *i;
        while b.get(*i).is_some_and(u8::is_ascii_digit) {
            *i += 1;
        }
        *i - start
    };
    let int_start = i;
    let int_len = digits(&mut i);
    if int_len == 0 || (int_len > 1 && b.get(int_start) == Some(&b'0')) {
        return None;
    }
    let mut is_float = false;
    if b.get(i) == Some(&b'.') {
        i += 1;
        if digits(&mut i) == 0 {
            return None;
        }
        is_float = true;
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        if digits(&mut i) == 0 {
            return None;
        }
        is_float = true;
    }
    if i != b.len() {
        return None;
    }
    if !is_float {
        if let Ok(n) = s.parse::<u64>() {
            return Some(n.into());
        }
        if let Ok(n) = s.parse::<i64>() {
            return Some(n.into());
        }
    }
    s.parse::<f64>().ok().and_then(serde_json::Number::from_f64)
}
