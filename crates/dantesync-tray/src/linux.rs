//! The tray on Linux desktops: a StatusNotifierItem (ksni, D-Bus) whose icon is sent as
//! pixmaps, so no icon theme or file is needed. `assume_sni_available` keeps the item alive
//! when the desktop's watcher starts after the tray (autostart at login races the panel) and
//! registers it once the watcher appears.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ksni::blocking::TrayMethods;
use ksni::menu::{MenuItem, StandardItem};

use crate::app::{pixels, Frame, Options, Tray};

/// Pixmap sizes offered; the host picks the nearest to its panel's.
const SIZES: [u32; 5] = [16, 22, 32, 48, 64];

#[derive(Debug)]
struct Item {
    frame: Frame,
    options: Options,
    quit: Arc<AtomicBool>,
}

fn argb(frame: &Frame, size: u32) -> ksni::Icon {
    let mut data = pixels(frame, size);
    for px in data.chunks_exact_mut(4) {
        px.rotate_right(1);
    }
    ksni::Icon {
        width: size as i32,
        height: size as i32,
        data,
    }
}

fn action(label: &str, f: fn(&Options)) -> MenuItem<Item> {
    StandardItem {
        label: label.into(),
        activate: Box::new(move |item: &mut Item| f(&item.options)),
        ..Default::default()
    }
    .into()
}

impl ksni::Tray for Item {
    fn id(&self) -> String {
        "dantesync-tray".into()
    }

    fn title(&self) -> String {
        self.frame.text.title.clone()
    }

    fn category(&self) -> ksni::Category {
        ksni::Category::SystemServices
    }

    fn status(&self) -> ksni::Status {
        if self.frame.shown.is_offline() {
            ksni::Status::NeedsAttention
        } else {
            ksni::Status::Active
        }
    }

    fn icon_pixmap(&self) -> Vec<ksni::Icon> {
        SIZES.iter().map(|&s| argb(&self.frame, s)).collect()
    }

    fn attention_icon_pixmap(&self) -> Vec<ksni::Icon> {
        self.icon_pixmap()
    }

    fn tool_tip(&self) -> ksni::ToolTip {
        ksni::ToolTip {
            title: self.frame.text.title.clone(),
            description: self.frame.text.lines.join("\n"),
            ..Default::default()
        }
    }

    /// A left click opens the live page: the one thing a sound engineer wants from it.
    fn activate(&mut self, _x: i32, _y: i32) {
        crate::open::live_page(&self.options);
    }

    fn menu(&self) -> Vec<MenuItem<Self>> {
        let mut items: Vec<MenuItem<Self>> = std::iter::once(&self.frame.text.title)
            .chain(&self.frame.text.lines)
            .map(|line| {
                StandardItem {
                    label: line.replace('_', "__"),
                    enabled: false,
                    ..Default::default()
                }
                .into()
            })
            .collect();
        items.push(MenuItem::Separator);
        items.push(action("Open the live page", crate::open::live_page));
        items.push(action("Open the log", crate::open::log));
        items.push(action("Open the config", crate::open::config));
        items.push(MenuItem::Separator);
        items.push(
            StandardItem {
                label: "Quit".into(),
                activate: Box::new(|item: &mut Item| item.quit.store(true, Ordering::Relaxed)),
                ..Default::default()
            }
            .into(),
        );
        items
    }
}

/// Runs until Quit: one poll a second, the item updated when what it shows changes.
pub fn run(options: Options) -> Result<(), String> {
    let quit = Arc::new(AtomicBool::new(false));
    let mut tray = Tray::new(options.clone());
    let first = tray.frame();
    let mut last_shown = first.shown;
    eprintln!("dantesync-tray: state {:?}", first.shown);
    let handle = Item {
        frame: first,
        options,
        quit: quit.clone(),
    }
    .assume_sni_available(true)
    .spawn()
    .map_err(|e| format!("cannot start the tray item: {e}"))?;
    while !quit.load(Ordering::Relaxed) && !handle.is_closed() {
        let t0 = Instant::now();
        let frame = tray.poll();
        if frame.shown != last_shown {
            // The test script follows these lines; people reading a journal do too.
            eprintln!("dantesync-tray: state {:?}", frame.shown);
            last_shown = frame.shown;
        }
        if let Some(n) = frame.notice {
            crate::notify::show(n);
        }
        handle.update(|item| {
            if item.frame.look != frame.look || item.frame.text != frame.text {
                item.frame = frame;
            }
        });
        while t0.elapsed() < Duration::from_secs(1) && !quit.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    handle.shutdown().wait();
    Ok(())
}
