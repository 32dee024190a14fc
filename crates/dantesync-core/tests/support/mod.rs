//! Helpers shared by the integration tests (`mod support;` in a test file).
//! Each test binary uses only some of them.
#![allow(dead_code)]

pub mod tshark;
