//! The rate servo: the estimator, and the policy that turns its estimate into a frequency.

pub mod estimator;
pub mod policy;

pub use estimator::{Estimate, EstimatorConfig, RateEstimator, Verdict};
pub use policy::{FrequencyPolicy, PolicyConfig};
