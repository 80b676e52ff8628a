//! The side-by-side command end to end, tiny: ours and rdkafka on the mock
//! cluster, 2,000 records, one round. Not a measurement (benchmarks are
//! never timed tests): it checks that the orchestrator, the mock-cluster
//! server and both contract clients work together and report.

use std::process::Command;

#[test]
fn a_tiny_run_on_the_mock_cluster_reports_every_client_and_the_targets() {
    let out = Command::new(env!("CARGO_BIN_EXE_side-by-side"))
        .args([
            "--no-build",
            "--cluster",
            "mock",
            "--clients",
            "ours,rdkafka",
            "--records",
            "2000",
            "--rounds",
            "1",
            "--timeout",
            "120",
            "--markdown",
        ])
        .output()
        .expect("the side-by-side binary runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "side-by-side failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
    for workload in ["100B", "10KiB"] {
        assert!(
            stdout.contains(&format!("workload {workload}: 2,000 records")),
            "{stdout}"
        );
        for target in ["records/s", "CPU/record"] {
            let verdict = stdout.lines().any(|l| {
                (l.starts_with("PASS ") || l.starts_with("MISS "))
                    && l.contains(&format!("mock {workload}: {target}"))
            });
            assert!(verdict, "no verdict for {workload} {target}:\n{stdout}");
        }
    }
    // Each client ran each workload once, completely.
    assert_eq!(stdout.matches("round 1 ours ").count(), 2, "{stdout}");
    assert_eq!(stdout.matches("round 1 rdkafka ").count(), 2, "{stdout}");
    assert!(
        !stdout.contains("FAILED") && !stdout.contains("TIMED OUT"),
        "{stdout}"
    );
    // The Markdown table has a row per client and workload.
    assert_eq!(stdout.matches("| mock | ").count(), 4, "{stdout}");
}
