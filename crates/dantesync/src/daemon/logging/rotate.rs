//! A log file that rotates by size: `dantesync.log` is written until the next line would take
//! it past the limit, then it becomes `dantesync.log.1` (the older ones shift to `.2`, `.3`...,
//! the oldest beyond the count is deleted) and a fresh `dantesync.log` takes the line.
//!
//! Written here rather than taken from a crate: `tracing-appender` rotates by date only, and
//! the size-rotating crates add more (compression, time suffixes, background threads) than
//! these ~100 lines, which a unit test covers whole. The writer rotates only between writes and
//! `tracing` writes each event with one `write_all`, so a line is never split across two files
//! and nothing is lost in a rotation.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// How large a file grows and how many are kept (the live one included).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    pub max_bytes: u64,
    pub files: u32,
}

/// 10 MB × 5 files: weeks of `info` logs, at most 50 MB on disk.
pub const SERVICE_LIMITS: Limits = Limits {
    max_bytes: 10 * 1024 * 1024,
    files: 5,
};

#[derive(Debug)]
pub struct RotatingFile {
    path: PathBuf,
    limits: Limits,
    file: Option<File>,
    size: u64,
}

impl RotatingFile {
    /// Opens (creating the folder and the file) `dir/name` to append to it. The error names the
    /// path and says what could not be done.
    pub fn open(dir: &Path, name: &str, limits: Limits) -> io::Result<Self> {
        fs::create_dir_all(dir).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("cannot create the log folder {}: {e}", dir.display()),
            )
        })?;
        let path = dir.join(name);
        let file = open_append(&path)?;
        let size = file.metadata().map(|m| m.len()).unwrap_or(0);
        Ok(Self {
            path,
            limits: Limits {
                max_bytes: limits.max_bytes.max(1),
                files: limits.files.max(1),
            },
            file: Some(file),
            size,
        })
    }

    fn numbered(&self, n: u32) -> PathBuf {
        let mut s = self.path.clone().into_os_string();
        s.push(format!(".{n}"));
        PathBuf::from(s)
    }

    fn rotate(&mut self) -> io::Result<()> {
        if let Some(f) = self.file.as_mut() {
            f.flush()?;
        }
        let keep = self.limits.files - 1;
        if keep == 0 {
            // One file only: start it again.
            self.file = Some(File::create(&self.path)?);
            self.size = 0;
            return Ok(());
        }
        // Missing files in the chain are normal (a young log); other errors are not.
        let ignore_missing = |r: io::Result<()>| match r {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        };
        ignore_missing(fs::remove_file(self.numbered(keep)))?;
        for n in (1..keep).rev() {
            ignore_missing(fs::rename(self.numbered(n), self.numbered(n + 1)))?;
        }
        // Closed before the rename: Windows refuses to rename a file open without
        // FILE_SHARE_DELETE, should anyone else hold it so.
        self.file = None;
        fs::rename(&self.path, self.numbered(1))?;
        self.file = Some(open_append(&self.path)?);
        self.size = 0;
        Ok(())
    }

    /// The live file, reopened if a failed rotation left it closed.
    fn live(&mut self) -> io::Result<&mut File> {
        if self.file.is_none() {
            self.file = Some(open_append(&self.path)?);
        }
        Ok(self.file.as_mut().expect("opened above"))
    }
}

fn open_append(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("cannot write the log file {}: {e}", path.display()),
            )
        })
}

impl Write for RotatingFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.size > 0 && self.size + buf.len() as u64 > self.limits.max_bytes {
            self.rotate()?;
        }
        let n = self.live()?.write(buf)?;
        self.size += n as u64;
        Ok(n)
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        // One rotation check per record, so a record is never split across two files.
        if self.size > 0 && self.size + buf.len() as u64 > self.limits.max_bytes {
            self.rotate()?;
        }
        self.live()?.write_all(buf)?;
        self.size += buf.len() as u64;
        Ok(())
    }

    fn flush(&mut self) -> io::Result<()> {
        match self.file.as_mut() {
            Some(f) => f.flush(),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("dantesync-rotate-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        dir
    }

    fn line(i: u32) -> String {
        // 20 bytes each.
        format!("line {i:05} ........\n")
    }

    #[test]
    fn rotates_at_the_size_keeps_the_count_and_loses_no_line() {
        let dir = scratch("size");
        let limits = Limits {
            max_bytes: 100,
            files: 3,
        };
        let mut f = RotatingFile::open(&dir, "d.log", limits).unwrap();
        for i in 0..23 {
            f.write_all(line(i).as_bytes()).unwrap();
        }
        f.flush().unwrap();
        // 5 lines fill a file exactly (100 bytes): 23 lines = 4 full files + 3 lines; 3 kept.
        let live = fs::read_to_string(dir.join("d.log")).unwrap();
        let one = fs::read_to_string(dir.join("d.log.1")).unwrap();
        let two = fs::read_to_string(dir.join("d.log.2")).unwrap();
        assert!(!dir.join("d.log.3").exists(), "only 3 files are kept");
        assert_eq!(live.len(), 60);
        assert_eq!(one.len(), 100);
        assert_eq!(two.len(), 100);
        let kept: String = [two, one, live].concat();
        let expected: String = (10..23).map(line).collect();
        assert_eq!(kept, expected, "the newest 13 lines, in order, none split");
        drop(f); // Windows cannot remove a folder holding an open file.
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn tracing_events_through_the_writer_are_never_split_across_files() {
        let dir = scratch("tracing");
        let limits = Limits {
            max_bytes: 300,
            files: 50,
        };
        let file = RotatingFile::open(&dir, "d.log", limits).unwrap();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(std::sync::Mutex::new(file))
            .with_ansi(false)
            .without_time()
            .with_target(false)
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            for i in 0..40 {
                tracing::info!("event {i:03} {}", "x".repeat(i % 7 * 10));
            }
        });
        let mut lines = Vec::new();
        for n in (1..50).rev() {
            if let Ok(text) = fs::read_to_string(dir.join(format!("d.log.{n}"))) {
                assert!(text.len() <= 300, "d.log.{n} is {} bytes", text.len());
                assert!(text.ends_with('\n'), "d.log.{n} ends inside a line");
                lines.extend(text.lines().map(str::to_owned));
            }
        }
        lines.extend(
            fs::read_to_string(dir.join("d.log"))
                .unwrap()
                .lines()
                .map(str::to_owned),
        );
        assert_eq!(lines.len(), 40);
        for (i, line) in lines.iter().enumerate() {
            assert!(
                line.starts_with(&format!(" INFO event {i:03} ")),
                "line {i}: {line}"
            );
        }
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_reopened_log_appends_and_counts_what_is_there() {
        let dir = scratch("reopen");
        let limits = Limits {
            max_bytes: 50,
            files: 2,
        };
        {
            let mut f = RotatingFile::open(&dir, "d.log", limits).unwrap();
            f.write_all(line(0).as_bytes()).unwrap();
            f.write_all(line(1).as_bytes()).unwrap();
        }
        let mut f = RotatingFile::open(&dir, "d.log", limits).unwrap();
        assert_eq!(f.size, 40);
        f.write_all(line(2).as_bytes()).unwrap();
        assert_eq!(
            fs::read_to_string(dir.join("d.log.1")).unwrap(),
            [line(0), line(1)].concat()
        );
        assert_eq!(fs::read_to_string(dir.join("d.log")).unwrap(), line(2));
        drop(f); // Windows cannot remove a folder holding an open file.
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_record_larger_than_the_limit_is_written_whole() {
        let dir = scratch("large");
        let limits = Limits {
            max_bytes: 10,
            files: 2,
        };
        let mut f = RotatingFile::open(&dir, "d.log", limits).unwrap();
        f.write_all(line(7).as_bytes()).unwrap();
        f.write_all(line(8).as_bytes()).unwrap();
        assert_eq!(fs::read_to_string(dir.join("d.log")).unwrap(), line(8));
        assert_eq!(fs::read_to_string(dir.join("d.log.1")).unwrap(), line(7));
        drop(f); // Windows cannot remove a folder holding an open file.
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_folder_that_cannot_be_created_is_a_clear_error() {
        let dir = scratch("blocked");
        fs::create_dir_all(&dir).unwrap();
        // A file where a folder should be: fails for root too (permissions would not).
        fs::write(dir.join("file"), b"x").unwrap();
        let logs = dir.join("file").join("logs");
        let e = RotatingFile::open(&logs, "d.log", SERVICE_LIMITS).unwrap_err();
        let msg = e.to_string();
        assert!(
            msg.starts_with(&format!("cannot create the log folder {}", logs.display())),
            "{msg}"
        );
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_log_file_that_cannot_be_opened_is_a_clear_error() {
        let dir = scratch("isdir");
        // A folder where the log file should be.
        fs::create_dir_all(dir.join("d.log")).unwrap();
        let e = RotatingFile::open(&dir, "d.log", SERVICE_LIMITS).unwrap_err();
        assert!(
            e.to_string().starts_with(&format!(
                "cannot write the log file {}",
                dir.join("d.log").display()
            )),
            "{e}"
        );
        fs::remove_dir_all(&dir).unwrap();
    }
}
