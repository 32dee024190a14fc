//! Shows a desktop notification without holding up the poll loop (a notification server that
//! is slow or absent must not delay the icon).

use crate::alerts::Notice;

pub fn show(notice: Notice) {
    let summary = notice.alert.summary();
    let body = crate::app::notice_body(notice);
    std::thread::spawn(move || {
        let result = notify_rust::Notification::new()
            .appname("dantesync")
            .summary(summary)
            .body(&body)
            .show();
        if let Err(e) = result {
            eprintln!("dantesync-tray: notification {summary:?} not shown: {e}");
        }
    });
}
