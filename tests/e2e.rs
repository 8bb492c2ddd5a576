//! End-to-end tests of the `netdhcpd` command line: the real binary on real files.
//! (The DHCP protocol tests, with packets between network namespaces, are in tests/e2e/*.py.)

use std::path::PathBuf;
use std::process::Command;

fn binary() -> PathBuf {
    // Tests run from the workspace root package; the daemon is another package of the same
    // workspace, built by `cargo build --workspace` (make test does that first).
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    for profile in ["release", "debug"] {
        let candidate = target.join(profile).join("netdhcpd");
        if candidate.exists() {
            return candidate;
        }
    }
    panic!(
        "netdhcpd is not built under {}: run `cargo build --workspace` first",
        target.display()
    );
}

fn check(text: &str) -> (bool, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join(if text.trim_start().starts_with('{') {
        "c.json"
    } else {
        "c.xml"
    });
    std::fs::write(&file, text).expect("write config");
    let out = Command::new(binary())
        .arg("check")
        .arg(&file)
        .output()
        .expect("run netdhcpd");
    let mut all = String::from_utf8_lossy(&out.stdout).into_owned();
    all.push_str(&String::from_utf8_lossy(&out.stderr));
    (out.status.success(), all)
}

#[test]
fn examples_pass_check() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples");
    for name in [
        "single-server.xml",
        "relay.xml",
        "dhcpv6-pd.xml",
        "ha-primary.xml",
        "ha-standby.xml",
        "ha-lb-primary.xml",
        "ha-lb-secondary.xml",
    ] {
        let out = Command::new(binary())
            .arg("check")
            .arg(root.join(name))
            .output()
            .expect("run netdhcpd");
        assert!(
            out.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("valid"),
            "{name}"
        );
    }
}

#[test]
fn check_lists_every_error_with_its_path() {
    let (ok, out) = check(
        r#"<server xmlns="urn:netdhcp:yang:netdhcp-server"><dhcpv4>
          <subnet><id>1</id><prefix>100.64.0.0/24</prefix>
            <pool><start>100.64.0.10</start><end>100.64.0.20</end></pool>
            <pool><start>100.64.0.20</start><end>100.64.0.30</end></pool>
            <reservation><ip-address>100.64.9.1</ip-address><hw-address>02:00:00:00:00:01</hw-address></reservation>
          </subnet></dhcpv4></server>"#,
    );
    assert!(!ok, "{out}");
    assert!(out.contains("/netdhcp-server:server/dhcpv4/subnet[id='1']/pool[start='100.64.0.20']: pool 100.64.0.20-100.64.0.30 overlaps pool 100.64.0.10-100.64.0.20"), "{out}");
    assert!(
        out.contains(
            "reservation[ip-address='100.64.9.1']: 100.64.9.1 is outside subnet 100.64.0.0/24"
        ),
        "{out}"
    );
}

#[test]
fn check_reports_yang_type_errors() {
    let (ok, out) = check(
        r#"{"netdhcp-server:server":{"dhcpv4":{"valid-lifetime":0,"subnet":[{"id":1,"prefix":"100.64.0.0/24"}]}}}"#,
    );
    assert!(!ok, "{out}");
    assert!(out.contains("valid-lifetime"), "{out}");
}

#[test]
fn check_refuses_unreadable_file() {
    let out = Command::new(binary())
        .args(["check", "/nonexistent/netdhcp.xml"])
        .output()
        .expect("run netdhcpd");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read /nonexistent/netdhcp.xml"));
}
