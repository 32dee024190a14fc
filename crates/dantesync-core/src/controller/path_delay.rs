//! The controller's side of path-delay measurement: it feeds [`PathDelay`] the leader's Syncs
//! and Delay_Resps on the step-free axis, asks for a Delay_Req when one is due and hands it to
//! the host as [`Action::SendDelayReq`]; the host reports when the request left with
//! [`Controller::delay_req_sent`] (or that it could not go, [`Controller::delay_req_not_sent`]).

use super::{Action, Controller};
use crate::path_delay::{PathDelay, PathDelayConfig, PathDelayState};
use crate::source::SourceEvent;
use crate::time::Moment;
use crate::wire::ptpv1::{Message, ParseError};

impl Controller {
    pub(super) fn new_path_delay(cfg: &super::ControllerConfig) -> PathDelay {
        // No configuration: measurement off (interval 0).
        let pd = cfg.path_delay.clone().unwrap_or(PathDelayConfig {
            interval_s: 0.0,
            ..PathDelayConfig::default()
        });
        PathDelay::new(pd, cfg.ptp.subdomain)
    }

    /// Whether the path delay to the leader followed is being measured and not known yet (a
    /// few seconds after a leader is chosen): fleet mode neither steps, corrects its phase nor
    /// measures D meanwhile, since 0 in its place would be off by the whole path.
    pub(super) fn path_delay_settling(&self) -> bool {
        self.path_delay.status().state == PathDelayState::Measuring
    }

    /// What the clock's own frequency (every term of the total) added up to step-free `sf`,
    /// ns: taken out of the Sync offsets so that lines through them follow the oscillator.
    pub(super) fn own_ns(&self, sf: i64) -> i64 {
        self.integral_at(sf).round() as i64
    }

    /// A Delay_Resp, before the source sees the datagram (it has no use for it).
    pub(super) fn path_delay_message(&mut self, parsed: &Result<Message, ParseError>) {
        if let Ok(Message::DelayResp(header, body)) = parsed {
            if header.subdomain == self.cfg.ptp.subdomain {
                self.path_delay.delay_resp(header, body);
            }
        }
    }

    /// What the source made of a datagram, as far as the path delay cares.
    pub(super) fn path_delay_event(&mut self, event: &SourceEvent, sf: i64) {
        match event {
            SourceEvent::Nothing => {}
            SourceEvent::LeaderChanged { current, .. } => {
                self.path_delay.leader_changed(*current, sf)
            }
            SourceEvent::Sample(pair) => {
                let rx = pair.rx_step_free_ns;
                let own = self.own_ns(rx);
                self.path_delay.sync(rx, pair.t1_ns, own)
            }
        }
    }

    /// A request, if one is due (and the end of a wait that expired).
    pub(super) fn poll_path_delay(&mut self, sf: i64, out: &mut Vec<Action>) {
        if let Some(request) = self.path_delay.poll(sf) {
            out.push(Action::SendDelayReq {
                sequence_id: request.sequence_id,
                bytes: request.bytes,
            });
        }
    }

    /// The Delay_Req `sequence_id` left at `tx`: the kernel's transmit timestamp when
    /// `kernel_stamp`, else the clock read around the send.
    pub fn delay_req_sent(
        &mut self,
        sequence_id: u16,
        tx: impl Into<Moment>,
        kernel_stamp: bool,
    ) -> Vec<Action> {
        let mut out = Vec::new();
        let sf = self.enter(tx.into(), &mut out);
        let own = self.own_ns(sf);
        self.path_delay.sent(sequence_id, sf, own, kernel_stamp);
        self.evaluate(sf, &mut out);
        out
    }

    /// The Delay_Req `sequence_id` could not be sent: no answer is waited for.
    pub fn delay_req_not_sent(&mut self, sequence_id: u16) {
        self.path_delay.not_sent(sequence_id);
    }
}
