//! The OpenClaw suites: the worker against the faithful fake gateway (`fake`), against the
//! real OpenClaw 2026.9.6 (`real`, on the gateway `harness` installs and starts), and the fake
//! held to the real one (`conformance`: every scenario both can play, compared answer by
//! answer). The real gateway needs Node 24 and the npm registry the first time
//! (`tests/openclaw-real/install.sh`); with `CLAWFACTORY_SKIP_REAL_GATEWAY` set, `real` and
//! `conformance` print why and pass without running (the Nix build sandbox does).
//!
//! ```sh
//! PATH="$PWD/target/venv/bin:$PATH" cargo test --locked --test openclaw
//! ```

// The suites here use a part of the shared harness, and rustc judges unused code one target at
// a time (`it` uses all of it and has no such allowance); this target's own modules do.
#[allow(dead_code, unused_imports)]
#[path = "../common/mod.rs"]
mod common;
// The faithful fake OpenClaw gateway: shared by this target and `tests/heavy/`.
#[path = "../common/fake_openclaw.rs"]
mod fake_openclaw;

mod conformance;
mod fake;
mod harness;
mod real;

use clawfactory_temporal::config::GatewayApi;
use common::{ConfigFile, Setup};

/// What every suite here adds to a test's world: a config that speaks OpenClaw.
trait OpenClawSetup {
    /// A worker config speaking `api` to an OpenClaw gateway at `url`, with both of its tokens
    /// written to files the config names (they are different secrets).
    fn openclaw_config(
        &self,
        api: GatewayApi,
        url: String,
        hooks_token: &str,
        gateway_token: &str,
    ) -> ConfigFile;
}

impl OpenClawSetup for Setup {
    fn openclaw_config(
        &self,
        api: GatewayApi,
        url: String,
        hooks_token: &str,
        gateway_token: &str,
    ) -> ConfigFile {
        let hooks = self.path("hooks-token");
        let gateway = self.path("gateway-token");
        std::fs::write(&hooks, format!("{hooks_token}\n")).unwrap();
        std::fs::write(&gateway, format!("{gateway_token}\n")).unwrap();
        let mut config = self.config();
        config.gateway.api = Some(api);
        config.gateway.url = url;
        config.gateway.token_file = Some(gateway);
        config.gateway.hooks_token_file = Some(hooks);
        config
    }
}
