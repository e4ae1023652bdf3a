//! lswag-studio: zero-shot NAS proxies (L-SWAG, LIBRA and peers) on burn.

pub mod analysis;
pub mod archive;
pub mod engine;
pub mod figure;
pub mod jobs;
pub mod proxy;
pub mod search;
pub mod space;
pub mod testdata;

pub mod ui;
