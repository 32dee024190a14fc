//! The configuration's text as a tree that remembers where every key and value starts.
//!
//! serde reads the values (`read.rs`); this tree is what its errors are placed on. serde_json
//! places an error where it stopped reading (after the value, and only the first error), while
//! an operator who wrote a port of 70000 on line 7 needs every such error at the spot where
//! each value starts; and `1e400` is quoted as written, not as the number serde makes of it.
//! The reader accepts exactly RFC 8259 JSON (cross-checked against serde_json in the tests)
//! and explains the mistakes people make by hand at the character they are at: comments,
//! trailing commas, single quotes, unquoted keys, UTF-16 files.

pub use super::diagnostic::Pos;

/// A value and where it starts.
#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    pub pos: Pos,
    pub value: Value,
}

/// One `"key": value` of an object, in file order (duplicates are kept so the schema can
/// report them).
#[derive(Clone, Debug, PartialEq)]
pub struct Member {
    pub key: String,
    pub key_pos: Pos,
    pub value: Node,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    /// The number's text as written, so integers are never rounded through f64.
    Number(String),
    String(String),
    Array(Vec<Node>),
    Object(Vec<Member>),
}

impl Value {
    /// How a value is named in an error ("found ...").
    pub fn describe(&self) -> String {
        match self {
            Value::Null => "null".to_owned(),
            Value::Bool(b) => b.to_string(),
            Value::Number(text) => text.clone(),
            Value::String(s) => {
                let shown: String = s.chars().take(40).collect();
                if shown.len() < s.len() {
                    format!("{:?}...", shown)
                } else {
                    format!("{s:?}")
                }
            }
            Value::Array(_) => "a list".to_owned(),
            Value::Object(_) => "an object".to_owned(),
        }
    }
}

/// Why a text is not JSON, and where.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyntaxError {
    pub pos: Pos,
    /// The key path being read when the text went wrong (`ntp_server_mode.port`), if any.
    pub key: Option<String>,
    pub message: String,
    /// How to repair it, when the mistake is a common one.
    pub hint: Option<String>,
}

/// Deep enough for any configuration, shallow enough that a hostile file cannot exhaust the
/// stack.
const MAX_DEPTH: usize = 64;

/// Parses a whole document: one value, surrounded only by whitespace. A UTF-8 byte-order mark
/// is skipped, because Windows Notepad writes one.
pub fn parse(bytes: &[u8]) -> Result<Node, SyntaxError> {
    let start = Pos { line: 1, col: 1 };
    if bytes.starts_with(&[0xff, 0xfe]) || bytes.starts_with(&[0xfe, 0xff]) {
        return Err(SyntaxError {
            key: None,
            pos: start,
            message: "the file is UTF-16 encoded; JSON configuration must be UTF-8".to_owned(),
            hint: Some(
                "save it as UTF-8 (PowerShell: `Set-Content -Encoding utf8`, Notepad: \
                 Save As > Encoding UTF-8)"
                    .to_owned(),
            ),
        });
    }
    let bytes = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(bytes);
    let text = match std::str::from_utf8(bytes) {
        Ok(text) => text,
        Err(e) => {
            let valid = std::str::from_utf8(&bytes[..e.valid_up_to()]).unwrap_or_default();
            let mut reader = Reader::new(valid);
            reader.skip_to_end();
            return Err(SyntaxError {
                key: None,
                pos: reader.pos(),
                message: "invalid UTF-8 byte".to_owned(),
                hint: Some("save the file as UTF-8".to_owned()),
            });
        }
    };
    let mut reader = Reader::new(text);
    document(&mut reader).map_err(|mut e| {
        // The path is left as it was when reading stopped: the key whose value was bad, or
        // the object whose punctuation was.
        if !reader.path.is_empty() {
            e.key = Some(reader.path.concat().trim_start_matches('.').to_owned());
        }
        e
    })
}

fn document(reader: &mut Reader<'_>) -> Result<Node, SyntaxError> {
    reader.skip_ws()?;
    if reader.peek().is_none() {
        return Err(reader.error_here("the file is empty; expected a JSON object `{ ... }`"));
    }
    let node = reader.value(0)?;
    reader.skip_ws()?;
    if reader.peek().is_some() {
        return Err(reader.error_here_hint(
            "unexpected text after the end of the JSON document",
            "the whole configuration is one object: check the braces `{ }` match",
        ));
    }
    Ok(node)
}

struct Reader<'a> {
    text: &'a str,
    /// Segments of the key path being read: `.key` or `[index]`.
    path: Vec<String>,
    at: usize,
    line: u32,
    col: u32,
}

impl<'a> Reader<'a> {
    fn new(text: &'a str) -> Self {
        Reader {
            text,
            path: Vec::new(),
            at: 0,
            line: 1,
            col: 1,
        }
    }

    fn pos(&self) -> Pos {
        Pos {
            line: self.line,
            col: self.col,
        }
    }

    fn peek(&self) -> Option<char> {
        self.text[self.at..].chars().next()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.at += c.len_utf8();
        if c == '\n' {
            self.line += 1;
            self.col = 1;
        } else {
            self.col += 1;
        }
        Some(c)
    }

    fn skip_to_end(&mut self) {
        while self.bump().is_some() {}
    }

    fn error_at(&self, pos: Pos, message: impl Into<String>) -> SyntaxError {
        SyntaxError {
            key: None,
            pos,
            message: message.into(),
            hint: None,
        }
    }

    fn error_here(&self, message: impl Into<String>) -> SyntaxError {
        self.error_at(self.pos(), message)
    }

    fn error_here_hint(&self, message: impl Into<String>, hint: &str) -> SyntaxError {
        SyntaxError {
            key: None,
            pos: self.pos(),
            message: message.into(),
            hint: Some(hint.to_owned()),
        }
    }

    /// Skips JSON whitespace, and names comments for what they are rather than calling them
    /// an unexpected `/`.
    fn skip_ws(&mut self) -> Result<(), SyntaxError> {
        while let Some(c) = self.peek() {
            match c {
                ' ' | '\t' | '\n' | '\r' => {
                    self.bump();
                }
                '/' if matches!(self.text.as_bytes().get(self.at + 1), Some(b'/' | b'*')) => {
                    return Err(self.error_here_hint(
                        "comments are not allowed in JSON",
                        "delete the comment, or keep the note as a key starting with `_`, \
                         e.g. \"_note\": \"...\" (such keys are ignored)",
                    ));
                }
                _ => break,
            }
        }
        Ok(())
    }

    fn value(&mut self, depth: usize) -> Result<Node, SyntaxError> {
        if depth > MAX_DEPTH {
            return Err(self.error_here(format!("nested deeper than {MAX_DEPTH} levels")));
        }
        let pos = self.pos();
        let value = match self.peek() {
            Some('{') => self.object(depth)?,
            Some('[') => self.array(depth)?,
            Some('"') => Value::String(self.string()?),
            Some('-' | '0'..='9') => self.number()?,
            Some('\'') => {
                return Err(self.error_here_hint(
                    "strings must be in double quotes",
                    "replace the single quotes ' with double quotes \"",
                ))
            }
            Some(c) if c.is_ascii_alphabetic() => {
                let word = self.word();
                match word {
                    "true" => Value::Bool(true),
                    "false" => Value::Bool(false),
                    "null" => Value::Null,
                    other => {
                        let hint = match other {
                            "True" | "TRUE" | "yes" | "on" => "write true (lower case)",
                            "False" | "FALSE" | "no" | "off" => "write false (lower case)",
                            "None" | "NULL" | "nil" => "write null (lower case)",
                            _ => "put text in double quotes, e.g. \"eth0\"",
                        };
                        return Err(SyntaxError {
                            key: None,
                            pos,
                            message: format!("`{other}` is not a JSON value"),
                            hint: Some(hint.to_owned()),
                        });
                    }
                }
            }
            Some(c) => return Err(self.error_here(format!("expected a value, found `{c}`"))),
            None => return Err(self.error_here("the file ends where a value was expected")),
        };
        Ok(Node { pos, value })
    }

    /// A run of letters, consumed (for literals and for naming a bad word).
    fn word(&mut self) -> &'a str {
        let start = self.at;
        while self
            .peek()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            self.bump();
        }
        &self.text[start..self.at]
    }

    fn object(&mut self, depth: usize) -> Result<Value, SyntaxError> {
        let open = self.pos();
        self.bump();
        let mut members = Vec::new();
        self.skip_ws()?;
        if self.peek() == Some('}') {
            self.bump();
            return Ok(Value::Object(members));
        }
        let mut comma = open;
        loop {
            self.skip_ws()?;
            let key_pos = self.pos();
            let key = match self.peek() {
                Some('"') => self.string()?,
                Some('}') => {
                    return Err(SyntaxError {
                        key: None,
                        pos: comma,
                        message: "trailing comma before `}`".to_owned(),
                        hint: Some(
                            "JSON allows no comma after the last member: delete it".to_owned(),
                        ),
                    })
                }
                Some('\'') => {
                    return Err(self.error_here_hint(
                        "keys must be in double quotes",
                        "replace the single quotes ' with double quotes \"",
                    ))
                }
                Some(c) if c.is_ascii_alphabetic() || c == '_' => {
                    let word = self.word();
                    return Err(SyntaxError {
                        key: None,
                        pos: key_pos,
                        message: format!("key `{word}` is not in double quotes"),
                        hint: Some(format!("write \"{word}\"")),
                    });
                }
                None => return Err(self.unclosed('{', open)),
                Some(c) => {
                    return Err(
                        self.error_here(format!("expected a key in double quotes, found `{c}`"))
                    )
                }
            };
            self.path.push(format!(".{key}"));
            self.skip_ws()?;
            match self.peek() {
                Some(':') => {
                    self.bump();
                }
                Some('=') => {
                    return Err(self.error_here_hint(
                        "expected `:` after the key, found `=`",
                        "JSON separates a key from its value with a colon",
                    ))
                }
                None => return Err(self.unclosed('{', open)),
                Some(c) => {
                    return Err(self
                        .error_here(format!("expected `:` after the key \"{key}\", found `{c}`")))
                }
            }
            self.skip_ws()?;
            if self.peek().is_none() {
                return Err(self.unclosed('{', open));
            }
            let value = self.value(depth + 1)?;
            self.path.pop();
            members.push(Member {
                key,
                key_pos,
                value,
            });
            self.skip_ws()?;
            match self.peek() {
                Some(',') => {
                    comma = self.pos();
                    self.bump();
                }
                Some('}') => {
                    self.bump();
                    return Ok(Value::Object(members));
                }
                None => return Err(self.unclosed('{', open)),
                Some('"') => {
                    return Err(self.error_here_hint(
                        "expected `,` or `}` after a member",
                        "a comma is missing at the end of the previous line",
                    ))
                }
                Some(c) => {
                    return Err(self
                        .error_here(format!("expected `,` or `}}` after a member, found `{c}`")))
                }
            }
        }
    }

    fn array(&mut self, depth: usize) -> Result<Value, SyntaxError> {
        let open = self.pos();
        self.bump();
        let mut items = Vec::new();
        self.skip_ws()?;
        if self.peek() == Some(']') {
            self.bump();
            return Ok(Value::Array(items));
        }
        let mut comma = open;
        loop {
            self.skip_ws()?;
            match self.peek() {
                Some(']') => {
                    return Err(SyntaxError {
                        key: None,
                        pos: comma,
                        message: "trailing comma before `]`".to_owned(),
                        hint: Some(
                            "JSON allows no comma after the last item: delete it".to_owned(),
                        ),
                    })
                }
                None => return Err(self.unclosed('[', open)),
                _ => {}
            }
            self.path.push(format!("[{}]", items.len()));
            items.push(self.value(depth + 1)?);
            self.path.pop();
            self.skip_ws()?;
            match self.peek() {
                Some(',') => {
                    comma = self.pos();
                    self.bump();
                }
                Some(']') => {
                    self.bump();
                    return Ok(Value::Array(items));
                }
                None => return Err(self.unclosed('[', open)),
                Some(c) => {
                    return Err(
                        self.error_here(format!("expected `,` or `]` in a list, found `{c}`"))
                    )
                }
            }
        }
    }

    fn unclosed(&self, open: char, at: Pos) -> SyntaxError {
        let close = if open == '{' { '}' } else { ']' };
        SyntaxError {
            key: None,
            pos: self.pos(),
            message: format!(
                "the file ends inside the `{open}` opened at line {}",
                at.line
            ),
            hint: Some(format!("add the missing `{close}`")),
        }
    }

    fn string(&mut self) -> Result<String, SyntaxError> {
        let open = self.pos();
        self.bump();
        let mut out = String::new();
        loop {
            let here = self.pos();
            match self.bump() {
                None => {
                    return Err(SyntaxError {
                        key: None,
                        pos: open,
                        message: "this string is never closed".to_owned(),
                        hint: Some("add the closing double quote \"".to_owned()),
                    })
                }
                Some('"') => return Ok(out),
                Some('\\') => out.push(self.escape(here)?),
                Some('\n') => {
                    return Err(SyntaxError {
                        key: None,
                        pos: open,
                        message: "this string is not closed on its line".to_owned(),
                        hint: Some("add the closing double quote \"".to_owned()),
                    })
                }
                Some(c) if (c as u32) < 0x20 => {
                    return Err(self.error_at(here, "control character inside a string"))
                }
                Some(c) => out.push(c),
            }
        }
    }

    fn escape(&mut self, at: Pos) -> Result<char, SyntaxError> {
        let bad = |what: String| SyntaxError {
            key: None,
            pos: at,
            message: what,
            hint: Some(
                "a backslash starts an escape; write a Windows path with `\\\\` or `/`, \
                 e.g. \"C:\\\\ProgramData\\\\DanteSync\""
                    .to_owned(),
            ),
        };
        Ok(match self.bump() {
            Some('"') => '"',
            Some('\\') => '\\',
            Some('/') => '/',
            Some('b') => '\u{8}',
            Some('f') => '\u{c}',
            Some('n') => '\n',
            Some('r') => '\r',
            Some('t') => '\t',
            Some('u') => {
                let first = self.hex4(at)?;
                if (0xd800..0xdc00).contains(&first) {
                    if self.peek() != Some('\\') {
                        return Err(self.error_at(at, "unpaired UTF-16 surrogate in \\u escape"));
                    }
                    self.bump();
                    if self.bump() != Some('u') {
                        return Err(self.error_at(at, "unpaired UTF-16 surrogate in \\u escape"));
                    }
                    let second = self.hex4(at)?;
                    if !(0xdc00..0xe000).contains(&second) {
                        return Err(self.error_at(at, "unpaired UTF-16 surrogate in \\u escape"));
                    }
                    let code = 0x10000 + ((first - 0xd800) << 10) + (second - 0xdc00);
                    char::from_u32(code).ok_or_else(|| self.error_at(at, "invalid \\u escape"))?
                } else {
                    char::from_u32(first).ok_or_else(|| {
                        self.error_at(at, "unpaired UTF-16 surrogate in \\u escape")
                    })?
                }
            }
            Some(c) => return Err(bad(format!("invalid escape `\\{c}` in a string"))),
            None => return Err(bad("the file ends inside an escape".to_owned())),
        })
    }

    fn hex4(&mut self, at: Pos) -> Result<u32, SyntaxError> {
        let mut code = 0;
        for _ in 0..4 {
            let digit = self
                .peek()
                .and_then(|c| c.to_digit(16))
                .ok_or_else(|| self.error_at(at, "a \\u escape needs four hex digits"))?;
            self.bump();
            code = code * 16 + digit;
        }
        Ok(code)
    }

    /// RFC 8259's number grammar exactly: `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`.
    fn number(&mut self) -> Result<Value, SyntaxError> {
        let start = self.at;
        let pos = self.pos();
        let invalid = |r: &Self| SyntaxError {
            key: None,
            pos,
            message: format!(
                "`{}` is not a valid JSON number",
                &r.text[start..r.at.max(start + 1).min(r.text.len())]
            ),
            hint: None,
        };
        if self.peek() == Some('-') {
            self.bump();
        }
        match self.peek() {
            Some('0') => {
                self.bump();
                if self.peek().is_some_and(|c| c.is_ascii_digit()) {
                    self.digits();
                    return Err(SyntaxError {
                        hint: Some("JSON numbers have no leading zeros".to_owned()),
                        ..invalid(self)
                    });
                }
            }
            Some('1'..='9') => self.digits(),
            _ => return Err(invalid(self)),
        }
        if self.peek() == Some('.') {
            self.bump();
            if !self.peek().is_some_and(|c| c.is_ascii_digit()) {
                return Err(invalid(self));
            }
            self.digits();
        }
        if matches!(self.peek(), Some('e' | 'E')) {
            self.bump();
            if matches!(self.peek(), Some('+' | '-')) {
                self.bump();
            }
            if !self.peek().is_some_and(|c| c.is_ascii_digit()) {
                return Err(invalid(self));
            }
            self.digits();
        }
        Ok(Value::Number(self.text[start..self.at].to_owned()))
    }

    fn digits(&mut self) {
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.bump();
        }
    }
}
