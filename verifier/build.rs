//! How `edl-verify` is linked on Linux with glibc, for a quicker start (every offline
//! check is a new process; nothing in the program changes):
//!
//! - Packed relative relocations (DT_RELR, `-z pack-relative-relocs`, GNU ld 2.38 and
//!   glibc 2.36 or later): a position-independent Rust binary carries thousands of
//!   relative relocations (vtables, string tables), 24 bytes each in `.rela.dyn`; packed,
//!   they take a few kilobytes. The binary is ~100 KiB smaller and the dynamic loader has
//!   that much less to read at every start.
//! - The unwinder linked in from GCC's static `libgcc_eh.a` (what `gcc -static-libgcc`
//!   does), found before std asks for `libgcc_s.so.1`, which `--as-needed` then leaves
//!   out: one shared library fewer to find, map and relocate at every start (~20 page
//!   faults of ~150; the binary grows by 28 KiB). libm stays shared: glibc's static libm
//!   cannot be linked beside a shared libc.

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let env = std::env::var("CARGO_CFG_TARGET_ENV").unwrap_or_default();
    if os == "linux" && env == "gnu" {
        println!("cargo::rustc-link-arg-bin=edl-verify=-Wl,-z,pack-relative-relocs");
        // Library search order puts a crate's own native libraries before std's, so the
        // unwinder's symbols resolve here first.
        println!("cargo::rustc-link-lib=static:-bundle=gcc_eh");
    }
}
