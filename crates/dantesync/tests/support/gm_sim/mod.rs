//! Running `dantesync gm-sim` on loopback and reading what it sends, for the gm_sim_* tests:
//! [`receive`] records datagrams with their IP header fields and kernel receive times,
//! [`run`] starts and finishes gm-sim, [`packets`] parses and pairs its messages and holds the
//! real Dante leader's, [`timing`] measures rates and spreads against this host's clock.

pub mod packets;
pub mod receive;
pub mod run;
pub mod timing;
#[path = "../../../../dantesync-core/tests/support/tshark.rs"]
pub mod tshark;

use std::time::Duration;

use dantesync_core::wire::ptpv1::Uuid;

// Each test binary uses its own subset; most use none.
#[allow(unused_imports)]
pub use packets::*;
#[allow(unused_imports)]
pub use receive::*;
#[allow(unused_imports)]
pub use run::*;
#[allow(unused_imports)]
pub use timing::*;

pub const DANTE_CAPTURE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/captures/inferno-fpga/dante_ptpv1.pcap"
);
/// gm-sim's default UUID.
pub const DEFAULT_UUID: Uuid = Uuid([0x00, 0x1d, 0xc1, 0x00, 0x53, 0x01]);
/// A follower's identity in the Delay_Req the tests send (ptpd's slave in the fixtures).
pub const FOLLOWER: Uuid = Uuid([0xbe, 0xcf, 0x81, 0x75, 0x13, 0x7f]);
/// No run may take longer than this, whatever goes wrong.
pub const HARD_TIMEOUT: Duration = Duration::from_secs(30);
pub const NS_PER_S: i128 = 1_000_000_000;
