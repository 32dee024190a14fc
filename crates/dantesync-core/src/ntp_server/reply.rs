//! The packets the server sends: the reply to a client request, the Kiss-o'-Death RATE, and
//! the late patch of a reply's transmit timestamp. Always exactly 48 bytes.

use super::state::ServerState;
use crate::time::LocalTime;
use crate::wire::ntp::{Leap, Mode, NtpHeader, NtpTimestamp, ReferenceId, ShortTime, HEADER_LEN};

/// Where the transmit timestamp sits in a reply.
const TRANSMIT_AT: usize = 40;

fn timestamp(t: LocalTime) -> NtpTimestamp {
    NtpTimestamp::from_unix_nanos(t.nanos())
}

/// The server reply (RFC 5905 §8): same version, mode 4, the request's poll, origin = its
/// transmit timestamp.
pub(super) fn reply(
    request: &NtpHeader,
    rx: LocalTime,
    state: &ServerState,
    tx: LocalTime,
) -> [u8; 48] {
    let (leap, stratum, reference_id) = if state.synchronised {
        (state.leap, state.stratum, state.reference_id)
    } else {
        (Leap::Unsynchronized, 16, state.reference_id)
    };
    NtpHeader {
        leap,
        version: request.version,
        mode: Mode::Server,
        stratum,
        poll: request.poll,
        precision: state.precision,
        root_delay: ShortTime::from_seconds_f64(state.root_delay_s),
        root_dispersion: ShortTime::from_seconds_f64(state.root_dispersion_s),
        reference_id,
        reference_ts: state.reference_time.map_or(NtpTimestamp::ZERO, timestamp),
        origin_ts: request.transmit_ts,
        receive_ts: timestamp(rx),
        transmit_ts: timestamp(tx),
    }
    .to_bytes()
}

/// A Kiss-o'-Death RATE (RFC 5905 §7.4): stratum 0, LI = 3, the kiss code in the reference
/// id, origin = the request's transmit timestamp (so the client knows it is meant) and no
/// receive or transmit time, so that a client that ignores kiss codes cannot take it for a
/// sample either.
pub(super) fn kiss_of_death(request: &NtpHeader, state: &ServerState) -> [u8; 48] {
    NtpHeader {
        leap: Leap::Unsynchronized,
        version: request.version,
        mode: Mode::Server,
        stratum: 0,
        poll: request.poll,
        precision: state.precision,
        root_delay: ShortTime::ZERO,
        root_dispersion: ShortTime::ZERO,
        reference_id: ReferenceId::RATE,
        reference_ts: NtpTimestamp::ZERO,
        origin_ts: request.transmit_ts,
        receive_ts: NtpTimestamp::ZERO,
        transmit_ts: NtpTimestamp::ZERO,
    }
    .to_bytes()
}

/// Overwrites the transmit timestamp of a [`Response::Reply`] in place with `tx`: the last
/// step before `send`, so the stamp misses as little of the host's own latency as it can.
/// Returns false (and changes nothing) for a buffer shorter than the header. Never use it on a
/// Kiss-o'-Death, whose transmit timestamp is zero on purpose.
pub fn patch_transmit(reply: &mut [u8], tx: LocalTime) -> bool {
    match reply.get_mut(TRANSMIT_AT..HEADER_LEN) {
        Some(field) => {
            field.copy_from_slice(&timestamp(tx).to_bits().to_be_bytes());
            true
        }
        None => false,
    }
}
