//! The tray on Windows: a notification-area icon and menu from `tray-icon`, driven by this
//! thread's message loop. Polls run on a worker thread, so a daemon that hangs never freezes
//! the menu; each poll's frame comes back over a channel.

use std::sync::mpsc;
use std::time::{Duration, Instant};

use tray_icon::menu::{Menu, MenuEvent, MenuItem, PredefinedMenuItem};
use tray_icon::{Icon, TrayIcon, TrayIconBuilder};

use crate::app::{pixels, Frame, Options, Tray};

/// Windows draws notification-area icons at 16 px (more at high DPI); it scales what it gets.
const ICON_SIZE: u32 = 32;
/// The tooltip's limit in Shell_NotifyIconW (128 UTF-16 units with the NUL).
const TOOLTIP_MAX: usize = 127;

fn icon(frame: &Frame) -> Result<Icon, String> {
    Icon::from_rgba(pixels(frame, ICON_SIZE), ICON_SIZE, ICON_SIZE).map_err(|e| e.to_string())
}

fn tooltip(frame: &Frame) -> String {
    let mut out = String::new();
    for line in frame.text.joined().lines() {
        if out.encode_utf16().count() + line.encode_utf16().count() + 1 > TOOLTIP_MAX {
            break;
        }
        if !out.is_empty() {
            out.push('\n');
        }
        out.push_str(line);
    }
    out
}

struct Ui {
    tray: TrayIcon,
    status: Vec<MenuItem>,
    page: MenuItem,
    log: MenuItem,
    config: MenuItem,
    restart: MenuItem,
    quit: MenuItem,
    shown: Option<Frame>,
}

impl Ui {
    fn new(frame: &Frame) -> Result<Ui, String> {
        let mut ui = Ui {
            tray: TrayIconBuilder::new()
                .with_tooltip(tooltip(frame))
                .with_icon(icon(frame)?)
                .build()
                .map_err(|e| format!("cannot create the notification-area icon: {e}"))?,
            status: Vec::new(),
            page: MenuItem::new("Open the live page", true, None),
            log: MenuItem::new("Open the log", true, None),
            config: MenuItem::new("Open the config", true, None),
            restart: MenuItem::new("Restart the service (administrator)", true, None),
            quit: MenuItem::new("Quit", true, None),
            shown: None,
        };
        ui.show(frame.clone())?;
        Ok(ui)
    }

    /// A new menu only when the number of status lines changes; otherwise the lines' texts
    /// are updated in place, so an open menu does not close every second.
    fn rebuild_menu(&mut self, lines: &[String]) -> Result<(), String> {
        let menu = Menu::new();
        self.status = lines
            .iter()
            .map(|l| MenuItem::new(l, false, None))
            .collect();
        let err = |e: tray_icon::menu::Error| e.to_string();
        for item in &self.status {
            menu.append(item).map_err(err)?;
        }
        menu.append(&PredefinedMenuItem::separator()).map_err(err)?;
        for item in [&self.page, &self.log, &self.config, &self.restart] {
            menu.append(item).map_err(err)?;
        }
        menu.append(&PredefinedMenuItem::separator()).map_err(err)?;
        menu.append(&self.quit).map_err(err)?;
        self.tray.set_menu(Some(Box::new(menu)));
        Ok(())
    }

    fn show(&mut self, frame: Frame) -> Result<(), String> {
        let lines: Vec<String> = std::iter::once(frame.text.title.clone())
            .chain(frame.text.lines.iter().cloned())
            .collect();
        if lines.len() != self.status.len() {
            self.rebuild_menu(&lines)?;
        } else {
            for (item, line) in self.status.iter().zip(&lines) {
                item.set_text(line);
            }
        }
        let changed_look = self.shown.as_ref().is_none_or(|s| s.look != frame.look);
        if changed_look {
            self.tray
                .set_icon(Some(icon(&frame)?))
                .map_err(|e| e.to_string())?;
        }
        self.tray
            .set_tooltip(Some(tooltip(&frame)))
            .map_err(|e| e.to_string())?;
        if let Some(n) = frame.notice {
            crate::notify::show(n);
        }
        self.shown = Some(frame);
        Ok(())
    }

    /// Runs a menu command; false for Quit.
    fn command(&self, event: &MenuEvent, options: &Options) -> bool {
        let id = &event.id;
        if id == self.page.id() {
            crate::open::live_page(options);
        } else if id == self.log.id() {
            crate::open::log(options);
        } else if id == self.config.id() {
            crate::open::config(options);
        } else if id == self.restart.id() {
            crate::open::restart_service();
        } else if id == self.quit.id() {
            return false;
        }
        true
    }
}

pub fn run(options: Options) -> Result<(), String> {
    let (tx, rx) = mpsc::channel::<Frame>();
    let worker_options = options.clone();
    std::thread::spawn(move || {
        let mut tray = Tray::new(worker_options);
        if tx.send(tray.frame()).is_err() {
            return;
        }
        loop {
            let t0 = Instant::now();
            if tx.send(tray.poll()).is_err() {
                return;
            }
            std::thread::sleep(Duration::from_secs(1).saturating_sub(t0.elapsed()));
        }
    });
    let first = rx.recv().map_err(|_| "the poll thread ended".to_owned())?;
    let mut ui = Ui::new(&first)?;
    let mut failure = None;
    crate::windows_sys_calls::message_loop(250, || {
        while let Ok(frame) = rx.try_recv() {
            if let Err(e) = ui.show(frame) {
                failure = Some(e);
                return false;
            }
        }
        while let Ok(event) = MenuEvent::receiver().try_recv() {
            if !ui.command(&event, &options) {
                return false;
            }
        }
        true
    });
    failure.map_or(Ok(()), Err)
}
