//! The heavy runs: minutes of load on a real dev server, too long for a developer's every
//! `cargo test` (`test = false` in Cargo.toml). CI runs them by name, as the README's test
//! command does:
//!
//! ```sh
//! PATH="$PWD/target/venv/bin:$PATH" cargo test --locked --test heavy -- --nocapture
//! ```

// This target uses a part of the shared harness, and rustc judges unused code one target
// at a time: `it` and `openclaw` use the rest, and have no such allowance.
#[allow(dead_code, unused_imports)]
#[path = "../common/mod.rs"]
mod common;
// The faithful fake OpenClaw gateway: shared by this target and `tests/openclaw/`.
#[allow(dead_code)]
#[path = "../common/fake_openclaw.rs"]
mod fake_openclaw;

mod chaos;
