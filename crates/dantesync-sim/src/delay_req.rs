//! The leader's side of path-delay measurement: a Delay_Req the node sends crosses the
//! network back to the leader (the same base delay as the Syncs take the other way, with its
//! own jitter and loss, drawn from a stream of its own), is stamped on the leader's timescale
//! (T4) and answered with a Delay_Resp that crosses back.

use dantesync_core::wire::ptpv1::{Message, Timestamp};

use crate::leader::Leader;
use crate::network::{Delivery, Network};

/// What became of one Delay_Req sent at true time `now_ns`: the Delay_Resp's bytes and the
/// true time it reaches the node, or `None` when the request or the answer was lost (or the
/// request does not parse, which the core never sends).
pub fn answer(
    leader: &Leader,
    reverse: &mut Network,
    now_ns: i64,
    since_s: f64,
    request: &[u8],
) -> Option<(i64, Vec<u8>)> {
    let Ok(Message::DelayReq(header, _)) = Message::parse(request) else {
        return None;
    };
    let Delivery::Delivered {
        delay_ns,
        timestamp_error_ns,
    } = reverse.deliver(since_s)
    else {
        return None;
    };
    let arrival = now_ns + delay_ns;
    let t4 = leader.uptime_ns(arrival) + i128::from(timestamp_error_ns);
    let response = leader
        .model
        .identity
        .delay_resp(header.sequence_id, &header, Timestamp::from_nanos(t4))
        .to_bytes();
    Some((arrival + delay_ns, response))
}
