//! burn: backends, data, parameters, the executor, the probe and training.

pub mod backend;
pub mod data;
pub mod exec;
pub mod folder;
pub mod host_grads;
pub mod host_ops;
pub mod params;
pub mod probe;
pub mod procedural;
pub mod profile;
pub mod train;
