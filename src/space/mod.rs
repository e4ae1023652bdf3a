//! Search spaces: encodings and networks.

pub mod autoformer;
pub mod nb201;
