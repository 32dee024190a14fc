//! Errors and warnings about a configuration, in the `file:line:col: key: message` shape that
//! editors and terminals turn into a link to the spot.

use std::fmt;
use std::path::PathBuf;

/// A 1-based line and column (columns count characters, a tab is one).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Pos {
    pub line: u32,
    pub col: u32,
}

impl fmt::Display for Pos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.col)
    }
}

/// Where a problem is: a spot in a file, or a command-line flag.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Place {
    File {
        path: PathBuf,
        pos: Pos,
    },
    #[allow(
        dead_code,
        reason = "made by Config::with_overrides, which the daemon calls"
    )]
    Flag(&'static str),
}

impl fmt::Display for Place {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Place::File { path, pos } => write!(f, "{}:{pos}", path.display()),
            Place::Flag(flag) => f.write_str(flag),
        }
    }
}

/// One error or warning: where, which key, what is wrong and how to fix it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    pub place: Place,
    /// The key path, e.g. `ntp_server_mode.port` or `ptp.leader_allowlist[1]`; none for a
    /// syntax error, which is about the text rather than a key.
    pub key: Option<String>,
    pub message: String,
    pub hint: Option<String>,
}

impl Diagnostic {
    /// Where in the file the problem is, when it is in a file.
    pub fn pos(&self) -> Option<Pos> {
        match &self.place {
            Place::File { pos, .. } => Some(*pos),
            Place::Flag(_) => None,
        }
    }

    #[allow(dead_code, reason = "for the daemon's log and the tests")]
    pub fn line(&self) -> Option<u32> {
        self.pos().map(|p| p.line)
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: ", self.place)?;
        if let Some(key) = &self.key {
            write!(f, "{key}: ")?;
        }
        f.write_str(&self.message)?;
        if let Some(hint) = &self.hint {
            write!(f, "\n    fix: {hint}")?;
        }
        Ok(())
    }
}

/// Why a configuration could not be loaded. The daemon stops on any of these; it never falls
/// back to defaults for a file that exists, because running on settings the operator did not
/// write is worse than not running.
#[derive(Debug)]
pub enum LoadError {
    /// A file named on the command line does not exist.
    NotFound { path: PathBuf },
    /// The file exists but cannot be read.
    Unreadable {
        path: PathBuf,
        error: std::io::Error,
    },
    /// The file was read and has errors (at least one).
    Invalid { errors: Vec<Diagnostic> },
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LoadError::NotFound { path } => write!(
                f,
                "{}: no such configuration file\n    fix: check the path; without one, dantesync \
                 reads {} (and runs on the defaults if that is missing too)",
                path.display(),
                super::default_path().display()
            ),
            LoadError::Unreadable { path, error } => {
                write!(f, "{}: cannot read the file: {error}", path.display())
            }
            LoadError::Invalid { errors } => {
                for (i, e) in errors.iter().enumerate() {
                    if i > 0 {
                        writeln!(f)?;
                    }
                    write!(f, "{e}")?;
                }
                Ok(())
            }
        }
    }
}

impl std::error::Error for LoadError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_as_file_line_col_key_message_then_fix() {
        let d = Diagnostic {
            place: Place::File {
                path: PathBuf::from("/etc/dantesync/config.json"),
                pos: Pos { line: 7, col: 15 },
            },
            key: Some("ntp_server_mode.port".to_owned()),
            message: "expected an integer 1-65535, found \"abc\"".to_owned(),
            hint: Some("write the port without quotes, e.g. 123".to_owned()),
        };
        assert_eq!(
            d.to_string(),
            "/etc/dantesync/config.json:7:15: ntp_server_mode.port: expected an integer \
             1-65535, found \"abc\"\n    fix: write the port without quotes, e.g. 123"
        );
        assert_eq!(d.line(), Some(7));
        let flag = Diagnostic {
            place: Place::Flag("--ntp-server"),
            key: None,
            message: "bad".to_owned(),
            hint: None,
        };
        assert_eq!(flag.to_string(), "--ntp-server: bad");
        assert_eq!(flag.line(), None);
    }
}
