//! burn: backends, data, parameters, the executor and the probe.

pub mod backend;
pub mod data;
pub mod exec;
pub mod host_grads;
pub mod params;
pub mod probe;
pub mod profile;
