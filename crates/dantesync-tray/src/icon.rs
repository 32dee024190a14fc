//! The icon, drawn by a pure function of what is shown: a disc in the state's colour inside a
//! ring whose bright arc (clockwise from twelve o'clock) shows how close the drift is to the
//! lock threshold. Output is straight (not premultiplied) RGBA, row by row; the platform layers
//! convert it to what their tray wants.

use crate::health::Shown;
use crate::status::Reading;

/// The live page's colours (crates/dantesync/src/daemon/http/page/style.css) plus cyan and grey.
pub const GREEN: [u8; 3] = [0x2e, 0xcc, 0x71];
pub const CYAN: [u8; 3] = [0x00, 0xbc, 0xd4];
pub const YELLOW: [u8; 3] = [0xf1, 0xc4, 0x0f];
pub const ORANGE: [u8; 3] = [0xff, 0x8c, 0x1a];
pub const RED: [u8; 3] = [0xe7, 0x4c, 0x3c];
pub const GREY: [u8; 3] = [0x95, 0xa5, 0xa6];
/// The ring's filled arc and its empty track.
const ARC: [u8; 3] = [0xff, 0xff, 0xff];
const TRACK: [u8; 3] = [0x30, 0x30, 0x30];

/// LOCK is declared when |drift| + 3σ is below this (µs/s), docs/servo.md.
pub const LOCK_THRESHOLD_PPM: f64 = 5.0;

pub fn colour(shown: Shown) -> [u8; 3] {
    match shown {
        Shown::Starting => GREY,
        Shown::Lock => GREEN,
        Shown::Nano => CYAN,
        Shown::Acquiring => YELLOW,
        Shown::NtpOnly => ORANGE,
        Shown::Unreachable | Shown::Stale => RED,
    }
}

/// How close the drift is to the lock threshold, 0 (no estimate, or far) to 1 (within it).
/// It is threshold / bound, so the arc is half full at twice the threshold; the bound is
/// |drift| + 3σ when the daemon gives it (what the lock is decided on), else |drift|. Offline
/// and NTP-only show no arc: there is no drift being measured to be close with.
pub fn lock_fraction(shown: Shown, reading: Option<&Reading>) -> f64 {
    if shown.is_offline() || shown == Shown::NtpOnly {
        return 0.0;
    }
    let Some(r) = reading else { return 0.0 };
    let Some(bound) = r.error_bound_ppm.or(r.drift_ppm.map(f64::abs)) else {
        return 0.0;
    };
    if !bound.is_finite() {
        return 0.0;
    }
    if bound <= LOCK_THRESHOLD_PPM {
        1.0
    } else {
        LOCK_THRESHOLD_PPM / bound
    }
}

/// Everything the picture depends on.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Look {
    pub colour: [u8; 3],
    /// The arc's share of the ring, 0..=1.
    pub fraction: f64,
}

impl Look {
    pub fn of(shown: Shown, reading: Option<&Reading>) -> Look {
        Look {
            colour: colour(shown),
            fraction: lock_fraction(shown, reading).clamp(0.0, 1.0),
        }
    }
}

/// Radii as shares of the icon's half-size: disc, ring inner, ring outer.
const DISC: f64 = 0.66;
const RING_IN: f64 = 0.76;
const RING_OUT: f64 = 0.98;
/// Samples per pixel side for the edges' anti-aliasing.
const SUB: u32 = 4;

/// `size` × `size` RGBA pixels, transparent outside the ring.
pub fn render(look: Look, size: u32) -> Vec<u8> {
    let n = size as usize;
    let mut out = vec![0u8; n * n * 4];
    let half = f64::from(size) / 2.0;
    for y in 0..size {
        for x in 0..size {
            let mut sum = [0.0f64; 3];
            let mut alpha = 0.0f64;
            for sy in 0..SUB {
                for sx in 0..SUB {
                    let px = f64::from(x) + (f64::from(sx) + 0.5) / f64::from(SUB);
                    let py = f64::from(y) + (f64::from(sy) + 0.5) / f64::from(SUB);
                    if let Some(c) = sample(look, (px - half) / half, (py - half) / half) {
                        for (s, v) in sum.iter_mut().zip(c) {
                            *s += f64::from(v);
                        }
                        alpha += 1.0;
                    }
                }
            }
            let i = (y as usize * n + x as usize) * 4;
            if alpha > 0.0 {
                for k in 0..3 {
                    out[i + k] = (sum[k] / alpha).round() as u8;
                }
                out[i + 3] = (255.0 * alpha / f64::from(SUB * SUB)).round() as u8;
            }
        }
    }
    out
}

/// The colour at a point, in units of the half-size with the centre at 0 and y down.
fn sample(look: Look, x: f64, y: f64) -> Option<[u8; 3]> {
    let r = x.hypot(y);
    if r <= DISC {
        return Some(look.colour);
    }
    if !(RING_IN..=RING_OUT).contains(&r) {
        return None;
    }
    // Clockwise from twelve o'clock, 0..1.
    let turn = (x.atan2(-y) / std::f64::consts::TAU).rem_euclid(1.0);
    Some(if turn < look.fraction { ARC } else { TRACK })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::health::Watch;
    use crate::status::Mode;

    const SIZE: u32 = 32;

    fn pixel(img: &[u8], x: u32, y: u32) -> [u8; 4] {
        let i = ((y * SIZE + x) * 4) as usize;
        [img[i], img[i + 1], img[i + 2], img[i + 3]]
    }

    fn centre(img: &[u8]) -> [u8; 4] {
        pixel(img, SIZE / 2, SIZE / 2)
    }

    fn reading(mode: Mode, bound: Option<f64>) -> Reading {
        let body = format!(
            r#"{{"status": {{"mode": "{}", "error_bound_ppm": {}, "drift_ppm": {},
                "last_ptp_packet": {{"age_s": 0.3}}}}, "node": {{"uptime_s": 7}}}}"#,
            mode.name(),
            bound.map_or("null".into(), |b| b.to_string()),
            bound.map_or("null".into(), |b| (b / 2.0).to_string()),
        );
        crate::status::parse(&body).unwrap()
    }

    /// The icon for a status read at t = 0, looked at `at_s` later.
    fn icon_at(mode: Mode, at_s: f64) -> Vec<u8> {
        let mut w = Watch::new();
        w.on_reading(0.0, reading(mode, Some(2.0)));
        let shown = w.shown(at_s);
        render(Look::of(shown, w.last_reading()), SIZE)
    }

    #[test]
    fn every_state_has_its_colour_at_the_centre() {
        for (mode, rgb) in [
            (Mode::Init, GREY),
            (Mode::Acq, YELLOW),
            (Mode::Prod, YELLOW),
            (Mode::Lock, GREEN),
            (Mode::Nano, CYAN),
            (Mode::NtpOnly, ORANGE),
        ] {
            let img = icon_at(mode, 1.0);
            assert_eq!(img.len(), (SIZE * SIZE * 4) as usize);
            let [r, g, b, a] = centre(&img);
            assert_eq!([r, g, b], rgb, "{mode:?}");
            assert_eq!(a, 255, "{mode:?}");
        }
        let unreachable = {
            let mut w = Watch::new();
            w.on_error("connection refused".into());
            render(Look::of(w.shown(0.0), None), SIZE)
        };
        assert_eq!(centre(&unreachable), [RED[0], RED[1], RED[2], 255]);
    }

    #[test]
    fn a_stale_status_renders_red_whatever_its_mode() {
        for mode in [Mode::Lock, Mode::Nano, Mode::Acq, Mode::NtpOnly, Mode::Init] {
            let [r, g, b, _] = centre(&icon_at(mode, STALE_PLUS));
            assert_eq!([r, g, b], RED, "{mode:?}");
        }
    }
    const STALE_PLUS: f64 = crate::health::STALE_AFTER_S + 0.1;

    #[test]
    fn corners_are_transparent_and_the_edge_is_antialiased() {
        let img = render(Look::of(Shown::Lock, None), SIZE);
        assert_eq!(pixel(&img, 0, 0)[3], 0);
        assert_eq!(pixel(&img, SIZE - 1, SIZE - 1)[3], 0);
        // The ring's outer edge crosses x = 0 at mid-height only partly.
        let a = pixel(&img, 0, SIZE / 2)[3];
        assert!(a > 0 && a < 255, "edge alpha {a}");
    }

    #[test]
    fn the_arc_shows_the_share_of_the_lock_threshold() {
        assert_eq!(
            lock_fraction(Shown::Lock, Some(&reading(Mode::Lock, Some(2.0)))),
            1.0
        );
        let acq = reading(Mode::Acq, Some(20.0));
        assert_eq!(lock_fraction(Shown::Acquiring, Some(&acq)), 0.25);
        assert_eq!(
            lock_fraction(Shown::Acquiring, Some(&reading(Mode::Acq, None))),
            0.0
        );
        assert_eq!(lock_fraction(Shown::Stale, Some(&acq)), 0.0);
        assert_eq!(lock_fraction(Shown::NtpOnly, Some(&acq)), 0.0);

        // A quarter: the ring is lit at one o'clock (inside the first quarter turn), dark at
        // six o'clock and at nine.
        let img = render(Look::of(Shown::Acquiring, Some(&acq)), SIZE);
        let ring_r = f64::from(SIZE) / 2.0 * (RING_IN + RING_OUT) / 2.0;
        let at = |deg: f64| {
            let t = deg.to_radians();
            let x = f64::from(SIZE) / 2.0 + ring_r * t.sin();
            let y = f64::from(SIZE) / 2.0 - ring_r * t.cos();
            let [r, g, b, _] = pixel(&img, x as u32, y as u32);
            [r, g, b]
        };
        assert_eq!(at(40.0), ARC);
        assert_eq!(at(180.0), TRACK);
        assert_eq!(at(270.0), TRACK);
        let full = render(Look::of(Shown::Lock, Some(&acq)), SIZE);
        assert_ne!(full, img, "the arc changes the picture");
    }
}
