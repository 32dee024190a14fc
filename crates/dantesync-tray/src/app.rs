//! The platform-independent tray: options, one poll, and what the platform layer must show
//! after it. The platform layers (`linux.rs`, `windows.rs`) only draw and run menu commands.

use std::time::Instant;

use crate::alerts::{Alerts, Notice};
use crate::health::{Shown, Watch};
use crate::icon::{self, Look};
use crate::poll::Endpoint;
use crate::text::{self, Text};

/// Command-line options (`dantesync-tray --help`).
#[derive(Debug, Clone)]
pub struct Options {
    pub endpoint: Endpoint,
    /// Desktop notifications on state changes.
    pub notify: bool,
    /// The daemon's configuration file, opened by the menu.
    pub config: String,
    /// The daemon's log: a file opened by the menu; `None` for the platform's default.
    pub log: Option<String>,
}

pub const USAGE: &str = "\
dantesync-tray: the state of dantesync's clock sync in the system tray

usage: dantesync-tray [--url http://HOST:PORT] [--no-notify] [--config PATH] [--log PATH]

  --url URL      the daemon's HTTP status server (default http://127.0.0.1:8898)
  --no-notify    no desktop notifications on state changes
  --config PATH  the file the menu's \"Open config\" opens (default: the daemon's)
  --log PATH     a log file for \"Open log\" (default: the service's journal on Linux,
                 C:\\ProgramData\\DanteSync on Windows)";

#[cfg(windows)]
pub const DEFAULT_CONFIG: &str = r"C:\ProgramData\DanteSync\config.json";
#[cfg(not(windows))]
pub const DEFAULT_CONFIG: &str = "/etc/dantesync/config.json";

impl Options {
    /// `Ok(None)` for `--help`.
    pub fn parse(args: impl IntoIterator<Item = String>) -> Result<Option<Options>, String> {
        let mut url = "http://127.0.0.1:8898".to_owned();
        let mut notify = true;
        let mut config = DEFAULT_CONFIG.to_owned();
        let mut log = None;
        let mut args = args.into_iter();
        while let Some(a) = args.next() {
            let mut value = |name: &str| args.next().ok_or(format!("{name} needs a value"));
            match a.as_str() {
                "--url" => url = value("--url")?,
                "--config" => config = value("--config")?,
                "--log" => log = Some(value("--log")?),
                "--no-notify" => notify = false,
                "-h" | "--help" => return Ok(None),
                other => return Err(format!("unknown argument {other:?}")),
            }
        }
        Ok(Some(Options {
            endpoint: Endpoint::parse(&url)?,
            notify,
            config,
            log,
        }))
    }
}

/// What the platform layer shows after a poll.
#[derive(Debug, Clone)]
pub struct Frame {
    pub shown: Shown,
    pub look: Look,
    pub text: Text,
    pub notice: Option<Notice>,
}

/// The tray's state between polls.
#[derive(Debug)]
pub struct Tray {
    pub options: Options,
    started: Instant,
    watch: Watch,
    alerts: Alerts,
}

impl Tray {
    pub fn new(options: Options) -> Tray {
        Tray {
            options,
            started: Instant::now(),
            watch: Watch::new(),
            alerts: Alerts::new(),
        }
    }

    fn now_s(&self) -> f64 {
        self.started.elapsed().as_secs_f64()
    }

    /// Asks the daemon once (blocking, at most two timeouts) and judges.
    pub fn poll(&mut self) -> Frame {
        match self
            .options
            .endpoint
            .get("/api/status")
            .and_then(|body| crate::status::parse(&body))
        {
            Ok(reading) => {
                let now = self.now_s();
                self.watch.on_reading(now, reading);
            }
            Err(e) => self.watch.on_error(e),
        }
        self.frame()
    }

    /// The judgement now, without asking.
    pub fn frame(&mut self) -> Frame {
        let now = self.now_s();
        let shown = self.watch.shown(now);
        let notice = self.alerts.on_state(now, shown);
        Frame {
            shown,
            look: Look::of(shown, self.watch.last_reading()),
            text: text::describe(&self.watch, now, &self.options.endpoint.url()),
            notice: notice.filter(|_| self.options.notify),
        }
    }
}

/// The notification's body: the alert's text, plus how many changes it summarises.
pub fn notice_body(n: Notice) -> String {
    match n.held_back {
        0 => n.alert.body().to_owned(),
        k => format!(
            "{} ({k} earlier changes were not notified: at most {} per {} minutes.)",
            n.alert.body(),
            crate::alerts::MAX_PER_WINDOW,
            crate::alerts::WINDOW_S / 60.0
        ),
    }
}

/// The icon's pixels at `size`, for the frame's look.
pub fn pixels(frame: &Frame, size: u32) -> Vec<u8> {
    icon::render(frame.look, size)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alerts::Alert;

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn options() {
        let o = Options::parse(args(&[])).unwrap().unwrap();
        assert_eq!(o.endpoint.url(), "http://127.0.0.1:8898");
        assert!(o.notify);
        assert_eq!(o.config, DEFAULT_CONFIG);
        let o = Options::parse(args(&[
            "--url",
            "http://10.1.2.3:9",
            "--no-notify",
            "--log",
            "x",
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(
            (o.endpoint.port, o.notify, o.log.as_deref()),
            (9, false, Some("x"))
        );
        assert!(Options::parse(args(&["--help"])).unwrap().is_none());
        assert_eq!(
            Options::parse(args(&["--url"])).unwrap_err(),
            "--url needs a value"
        );
        assert!(Options::parse(args(&["--frobnicate"])).is_err());
    }

    #[test]
    fn a_tray_against_a_closed_port_is_red_and_says_so_once() {
        // Bind then drop: a loopback port nothing listens on.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let url = format!("http://127.0.0.1:{port}");
        let mut t = Tray::new(Options::parse(args(&["--url", &url])).unwrap().unwrap());
        let f = t.poll();
        assert_eq!(f.shown, Shown::Unreachable);
        assert_eq!(f.look.colour, icon::RED);
        assert_eq!(f.notice.map(|n| n.alert), Some(Alert::Offline));
        assert_eq!(f.text.lines[0], format!("no answer from {url}"));
        assert!(t.poll().notice.is_none(), "one notice per change");
        let px = pixels(&f, 16);
        let mid = (8 * 16 + 8) * 4;
        assert_eq!(
            &px[mid..mid + 4],
            &[icon::RED[0], icon::RED[1], icon::RED[2], 255]
        );
    }

    #[test]
    fn held_back_changes_are_counted_in_the_body() {
        let n = Notice {
            alert: Alert::BackToNormal,
            held_back: 4,
        };
        assert_eq!(
            notice_body(n),
            "Locked to the Dante leader again. (4 earlier changes were not notified: at most 3 per 10 minutes.)"
        );
    }
}
