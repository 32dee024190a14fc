//! The burst filter: of the samples one check got from one server, keep the lowest-delay half
//! and report their mean offset, the least delay, their spread and how many answered.
//!
//! Queueing only ever adds delay, and it adds it to one direction more than the other, which is
//! what biases an offset (by up to half the extra delay). The exchanges with the least delay
//! are the least queued, so they carry the least bias; averaging the best half rather than
//! taking the single best halves the timestamp noise of a quiet network.

use super::reply::Sample;
use crate::wire::ntp::Leap;

/// What one burst to one server measured.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BurstResult {
    /// Mean offset of the kept samples (server − local), ns.
    pub offset_ns: i64,
    /// The least round-trip delay of the burst, ns.
    pub delay_ns: i64,
    /// Largest minus smallest offset among the kept samples, ns.
    pub spread_ns: i64,
    /// Samples the server answered in this burst.
    pub samples: u32,
    /// Samples kept (the lowest-delay ones).
    pub kept: u32,
    /// The server's stratum, root delay and root dispersion, from its least-delayed reply.
    pub stratum: u8,
    pub root_delay_ns: i64,
    pub root_dispersion_ns: i64,
    /// The leap indicator of the least-delayed reply.
    pub leap: Leap,
}

/// Reduces a burst's samples; `None` when there are none.
pub fn reduce(samples: &[Sample]) -> Option<BurstResult> {
    let mut by_delay: Vec<&Sample> = samples.iter().collect();
    by_delay.sort_by_key(|s| s.delay_ns);
    let best = *by_delay.first()?;
    let keep = by_delay.len().div_ceil(2);
    let kept = &by_delay[..keep];
    let sum: i128 = kept.iter().map(|s| i128::from(s.offset_ns)).sum();
    let offset = sum / keep as i128;
    let min = kept.iter().map(|s| s.offset_ns).min().unwrap_or(0);
    let max = kept.iter().map(|s| s.offset_ns).max().unwrap_or(0);
    Some(BurstResult {
        offset_ns: offset as i64,
        delay_ns: best.delay_ns,
        spread_ns: max.saturating_sub(min),
        samples: u32::try_from(samples.len()).unwrap_or(u32::MAX),
        kept: keep as u32,
        stratum: best.stratum,
        root_delay_ns: best.root_delay_ns,
        root_dispersion_ns: best.root_dispersion_ns,
        leap: best.leap,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(offset_ns: i64, delay_ns: i64) -> Sample {
        Sample {
            offset_ns,
            delay_ns,
            stratum: 3,
            root_delay_ns: 0,
            root_dispersion_ns: 0,
            leap: Leap::NoWarning,
        }
    }

    #[test]
    fn the_lowest_delay_half_is_kept() {
        // Two quiet exchanges near +1.00 ms, two queued ones pulled far off.
        let r = reduce(&[
            s(1_010_000, 200_000),
            s(4_000_000, 6_000_000),
            s(990_000, 180_000),
            s(-2_000_000, 5_000_000),
        ])
        .unwrap();
        assert_eq!(r.offset_ns, 1_000_000);
        assert_eq!(r.delay_ns, 180_000);
        assert_eq!(r.spread_ns, 20_000);
        assert_eq!((r.samples, r.kept), (4, 2));
    }

    #[test]
    fn an_odd_count_keeps_the_larger_half_and_one_sample_is_itself() {
        let r = reduce(&[s(10, 1), s(20, 2), s(900, 9)]).unwrap();
        assert_eq!((r.offset_ns, r.spread_ns, r.kept), (15, 10, 2));
        let one = reduce(&[s(-7, 3)]).unwrap();
        assert_eq!(
            (one.offset_ns, one.delay_ns, one.spread_ns, one.samples),
            (-7, 3, 0, 1)
        );
        assert_eq!(reduce(&[]), None);
    }
}
