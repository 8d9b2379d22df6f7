//! edld's command-line commands beyond serving.

pub mod demo;
pub mod import;
pub mod operator;
