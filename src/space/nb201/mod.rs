//! NAS-Bench-201: encodings and the burn network.

pub mod encoding;
pub mod net;

pub use encoding::*;
pub use net::{Nb201Config, Nb201Net};
