//! The handlers, per area: each decodes its request (`codec`), calls the service, and
//! encodes the answer; errors become problems through `problem`.

pub(crate) mod applications;
pub(crate) mod console;
pub(crate) mod credentials;
pub(crate) mod licences;
pub(crate) mod lists;
pub(crate) mod operations;
pub(crate) mod operators;
pub(crate) mod pages;
pub(crate) mod review;
pub(crate) mod sessions;
pub(crate) mod webhooks;
