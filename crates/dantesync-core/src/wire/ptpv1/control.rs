use std::fmt;

use super::{EVENT_PORT, GENERAL_PORT};

/// messageType of Sync and Delay_Req: their send and receive instants are timestamped.
pub const MESSAGE_TYPE_EVENT: u8 = 1;
/// messageType of Follow_Up, Delay_Resp and Management: carried without timestamps.
pub const MESSAGE_TYPE_GENERAL: u8 = 2;

/// The control field (byte 32), which alone decides a PTPv1 message's kind and length.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
#[repr(u8)]
pub enum Control {
    Sync = 0,
    DelayReq = 1,
    FollowUp = 2,
    DelayResp = 3,
    Management = 4,
}

impl Control {
    pub const ALL: [Control; 5] = [
        Control::Sync,
        Control::DelayReq,
        Control::FollowUp,
        Control::DelayResp,
        Control::Management,
    ];

    pub const fn from_u8(value: u8) -> Option<Control> {
        match value {
            0 => Some(Control::Sync),
            1 => Some(Control::DelayReq),
            2 => Some(Control::FollowUp),
            3 => Some(Control::DelayResp),
            4 => Some(Control::Management),
            _ => None,
        }
    }

    pub const fn to_u8(self) -> u8 {
        self as u8
    }

    /// Event messages are the ones whose departure and arrival are timestamped.
    pub const fn is_event(self) -> bool {
        matches!(self, Control::Sync | Control::DelayReq)
    }

    /// The messageType this control value requires.
    pub const fn message_type(self) -> u8 {
        if self.is_event() {
            MESSAGE_TYPE_EVENT
        } else {
            MESSAGE_TYPE_GENERAL
        }
    }

    /// The UDP port this message kind is sent to.
    pub const fn udp_port(self) -> u16 {
        if self.is_event() {
            EVENT_PORT
        } else {
            GENERAL_PORT
        }
    }

    /// The standard's spelling, which is also what Wireshark shows.
    pub const fn name(self) -> &'static str {
        match self {
            Control::Sync => "Sync",
            Control::DelayReq => "Delay_Req",
            Control::FollowUp => "Follow_Up",
            Control::DelayResp => "Delay_Resp",
            Control::Management => "Management",
        }
    }
}

impl fmt::Display for Control {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_follow_ieee_1588_2002() {
        for (value, control) in Control::ALL.into_iter().enumerate() {
            let value = u8::try_from(value).unwrap();
            assert_eq!(control.to_u8(), value);
            assert_eq!(Control::from_u8(value), Some(control));
        }
        assert_eq!(Control::from_u8(5), None);
        assert_eq!(Control::from_u8(255), None);
    }

    #[test]
    fn event_messages_are_sync_and_delay_req() {
        let event: Vec<_> = Control::ALL.into_iter().filter(|c| c.is_event()).collect();
        assert_eq!(event, [Control::Sync, Control::DelayReq]);
        assert_eq!(Control::Sync.message_type(), 1);
        assert_eq!(Control::DelayReq.udp_port(), 319);
        assert_eq!(Control::FollowUp.message_type(), 2);
        assert_eq!(Control::Management.udp_port(), 320);
        assert_eq!(Control::DelayResp.to_string(), "Delay_Resp");
    }
}
