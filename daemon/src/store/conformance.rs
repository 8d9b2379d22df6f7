//! The conformance suite every storage engine passes: placeholder replaced below.
