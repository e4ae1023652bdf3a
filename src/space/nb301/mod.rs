//! NAS-Bench-301: the DARTS cell space as NASLib's `nasbench301` search
//! space builds it (NAS-Bench-Suite-Zero's values come from there).
//! So far the encoding and the parameter count; the network on the
//! executor is still to come (issue 14, part 3).

pub mod encoding;

pub use encoding::{Nb301Arch, Nb301Config, Op};
