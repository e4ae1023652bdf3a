//! Search spaces: encodings and networks.

pub mod nb201;
