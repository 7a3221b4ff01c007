//! Engine suite: holm-runtime under podman, every scenario also with runc in the same run (see
//! engines_support/mod.rs for what is asserted, CONFORMANCE.md for the recorded table).

mod engines_support;

use engines_support::dockerish::DockerLike;
use engines_support::{assert_report, scenarios};

#[test]
fn podman_runs_every_scenario_with_holm_runtime_as_with_runc() {
    holm_testkit::require_root();
    let mut engine = DockerLike::podman();
    let report = scenarios::run_all(&engine);
    let (holm_calls, runc_calls) = (engine.holm.calls(), engine.runc.calls());
    let leaks = engine.finish();
    assert_report(&report, &holm_calls, &runc_calls, &leaks);
}
