//! The handlers, per area: each decodes its request (`codec`), calls the service, and
//! encodes the answer; errors become problems through `problem`.

pub mod applications;
pub mod credentials;
pub mod licences;
pub mod lists;
pub mod operations;
pub mod operators;
pub mod review;
