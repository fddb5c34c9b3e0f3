//! The codec's scalar readers: a wire value (JSON, as `serde_json` reads it) to the value
//! the engine keeps, with the Python codec's leniency (`session_fsm/wire/codec.py`:
//! `parse_bool`, `parse_int`, `parse_str`). Each answers `Ok(None)` for a value the wire
//! leaves unset, and `Err(Expected)` naming what a field of its kind holds.

use serde_json::Value;

/// The most digits a wire integer may have (`MAX_INT_DIGITS`): bounded, so a hostile
/// 16 MiB number never becomes a huge integer.
pub const MAX_INT_DIGITS: usize = 18;
const INT_LIMIT: i128 = 1_000_000_000_000_000_000; // 10 ** MAX_INT_DIGITS

/// What a field of a kind was expected to hold (the Python codec's wording).
#[derive(Debug, PartialEq, Eq)]
pub struct Expected(pub &'static str);

pub const EXPECTED_BOOL: Expected = Expected("a boolean (\"True\" or \"False\")");
pub const EXPECTED_INT: Expected =
    Expected("an integer (a string of at most 18 digits)");
pub const EXPECTED_STR: Expected = Expected("a string");

/// Python's `str.isspace()`: Unicode White_Space and the four separators \x1c..\x1f,
/// which Python counts and Rust's `char::is_whitespace` does not. `str.strip()` is what
/// the Python codec calls, so the core strips the same characters.
fn py_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

fn py_strip(text: &str) -> &str {
    text.trim_matches(py_space)
}

/// `"True"`/`"false"`/`true` -> bool, `""`/null -> None (case-insensitive).
pub fn parse_bool(value: &Value) -> Result<Option<bool>, Expected> {
    match value {
        Value::Null => Ok(None),
        Value::Bool(flag) => Ok(Some(*flag)),
        Value::String(text) => match py_strip(text).to_lowercase().as_str() {
            "true" => Ok(Some(true)),
            "false" => Ok(Some(false)),
            "" => Ok(None),
            _ => Err(EXPECTED_BOOL),
        },
        _ => Err(EXPECTED_BOOL),
    }
}

/// `"45"`/`45` -> 45, `""`/null -> None; at most [`MAX_INT_DIGITS`] digits, a sign allowed.
pub fn parse_int(value: &Value) -> Result<Option<i64>, Expected> {
    match value {
        Value::Null => Ok(None),
        Value::Number(number) => {
            let whole = number.as_i64().map(i128::from).or_else(|| number.as_u64().map(i128::from));
            match whole {
                Some(n) if -INT_LIMIT < n && n < INT_LIMIT => Ok(Some(n as i64)),
                _ => Err(EXPECTED_INT),
            }
        }
        Value::String(text) => {
            let text = py_strip(text);
            if text.is_empty() {
                return Ok(None);
            }
            let digits = text.strip_prefix(['+', '-']).unwrap_or(text);
            if digits.is_empty()
                || digits.len() > MAX_INT_DIGITS
                || !digits.bytes().all(|b| b.is_ascii_digit())
            {
                return Err(EXPECTED_INT);
            }
            text.parse::<i64>().map(Some).map_err(|_| EXPECTED_INT)
        }
        _ => Err(EXPECTED_INT),
    }
}

/// Strings stay as they are; bare JSON integers (IDs sent unquoted) become strings.
pub fn parse_str(value: &Value) -> Result<Option<String>, Expected> {
    match value {
        Value::Null => Ok(None),
        Value::String(text) => Ok(Some(text.clone())),
        Value::Number(number) if number.is_i64() || number.is_u64() => Ok(Some(number.to_string())),
        _ => Err(EXPECTED_STR),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_wires_spellings() {
        assert_eq!(parse_bool(&json!("False")), Ok(Some(false)));
        assert_eq!(parse_bool(&json!(" TRUE\u{1f}")), Ok(Some(true)));
        assert_eq!(parse_bool(&json!("")), Ok(None));
        assert_eq!(parse_bool(&json!(1)), Err(EXPECTED_BOOL));
        assert_eq!(parse_int(&json!("45")), Ok(Some(45)));
        assert_eq!(parse_int(&json!(" -007 ")), Ok(Some(-7)));
        assert_eq!(parse_int(&json!("1234567890123456789")), Err(EXPECTED_INT));
        assert_eq!(parse_int(&json!(true)), Err(EXPECTED_INT));
        assert_eq!(parse_str(&json!(12214)), Ok(Some("12214".to_owned())));
        assert_eq!(parse_str(&json!(1.5)), Err(EXPECTED_STR));
    }
}
