//! `hotline demo`, the newcomer's first command: it must work as a whole
//! (embedded database, a real call over loopback, the ticket printed).

#[test]
fn the_demo_makes_a_ticket_and_prints_it() {
    let dir = tempfile::Builder::new()
        .prefix("hotline-demo-")
        .tempdir()
        .unwrap();
    std::fs::set_permissions(
        dir.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_hotline"))
        .args(["--data-dir", dir.path().to_str().unwrap(), "demo"])
        .env_remove("HOTLINE_DATABASE_URL")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for expected in [
        "answered after",
        "Severity           critical (tier L3)",
        "Category           software",
        "Customer ref       4711",
        "Voice note",
    ] {
        assert!(
            stdout.contains(expected),
            "missing {expected:?} in:\n{stdout}"
        );
    }
    // The embedded cluster was stopped on the way out.
    assert!(!dir.path().join("pg/data/postmaster.pid").exists());
}
