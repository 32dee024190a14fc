//! `dantesync service install | uninstall | status` outside Windows: each refuses with exit
//! status 2 and names the Linux way, and none of them changes anything.

#![cfg(not(windows))]

use std::process::Command;

fn run(args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_dantesync"))
        .args(args)
        .output()
        .expect("the binary runs");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn each_subcommand_names_the_linux_way_and_exits_2() {
    let cases: [(&[&str], &str); 4] = [
        (&["service", "install"], "packaging/linux/install.sh"),
        (
            &["service", "install", "--config", "/nonexistent/config.json"],
            "systemctl enable --now dantesync",
        ),
        (
            &["service", "uninstall", "--purge"],
            "packaging/linux/uninstall.sh",
        ),
        (&["service", "status"], "systemctl status dantesync"),
    ];
    for (args, words) in cases {
        let (code, stdout, stderr) = run(args);
        assert_eq!(code, Some(2), "{args:?}: {stderr}");
        assert_eq!(stdout, "", "{args:?}");
        assert!(
            stderr.starts_with("dantesync: `dantesync service "),
            "{stderr}"
        );
        assert!(stderr.contains("is for Windows"), "{stderr}");
        assert!(stderr.contains(words), "{args:?}: {stderr}");
    }
}

#[test]
fn the_help_lists_the_three_subcommands() {
    let (code, stdout, _) = run(&["service", "--help"]);
    assert_eq!(code, Some(0));
    for sub in ["install", "uninstall", "status"] {
        assert!(
            stdout.lines().any(|l| l.trim_start().starts_with(sub)),
            "{sub} missing from:\n{stdout}"
        );
    }
    let (_, stdout, _) = run(&["service", "status", "--help"]);
    assert!(
        stdout.contains("0 running, 3 installed but not running, 4 not installed"),
        "{stdout}"
    );
}
