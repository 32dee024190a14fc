//! Wire formats: PTPv1 (IEEE 1588-2002), NTP (RFC 5905) and the dantesync query API.

pub mod ntp;
pub mod ptpv1;
pub mod query;
