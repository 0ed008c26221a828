//! Command-line conventions (issue 13), with the real binary: the version names its commit and
//! build date, shell completions load in bash, the manual page renders with `man -l`, global
//! options are listed apart, every `--db` says it takes postgres://, and log colours stop at
//! NO_COLOR.

use loopwise_testkit::process::loopwise_command;
use std::path::Path;
use std::process::{Command, Output};

const BINARY: &str = env!("CARGO_BIN_EXE_loopwise");

fn loopwise(home: &Path, args: &[&str]) -> Output {
    loopwise_command(BINARY, home)
        .current_dir(home)
        .args(args)
        .output()
        .expect("run loopwise")
}

fn stdout(output: &Output) -> String {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout.clone()).expect("UTF-8")
}

/// Whether a tool the test drives is here; under CI a missing one fails (`.ci/run` installs it).
fn have(tool: &str) -> bool {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .is_ok_and(|output| output.status.success());
    if !found {
        assert!(
            std::env::var("CI").is_err(),
            "{tool} is missing (CI installs it)"
        );
        eprintln!("SKIPPED: {tool} is not installed");
    }
    found
}

#[test]
fn the_version_names_the_commit_and_the_build_date() {
    let home = tempfile::tempdir().unwrap();
    let version = stdout(&loopwise(home.path(), &["--version"]));
    let expected = version_is_well_formed(&version);
    assert!(expected, "{version}");
}

/// `loopwise 0.1.0 (commit <hex or unknown>, built YYYY-MM-DD)`.
fn version_is_well_formed(version: &str) -> bool {
    let Some(rest) = version.trim().strip_prefix("loopwise ") else {
        return false;
    };
    let Some((_, inside)) = rest.split_once(" (commit ") else {
        return false;
    };
    let Some((commit, built)) = inside.split_once(", built ") else {
        return false;
    };
    let date = built.trim_end_matches(')');
    (commit == "unknown" || (commit.len() >= 7 && commit.chars().all(|c| c.is_ascii_hexdigit())))
        && date.len() == 10
        && date.chars().filter(|c| *c == '-').count() == 2
}

#[test]
fn bash_loads_the_completions() {
    if !have("bash") {
        return;
    }
    let home = tempfile::tempdir().unwrap();
    let script = home.path().join("loopwise.bash");
    std::fs::write(
        &script,
        stdout(&loopwise(home.path(), &["completions", "bash"])),
    )
    .unwrap();
    // Sourced, the function completes the subcommands of `loopwise ana`.
    let check = format!(
        "set -e; source {}; COMP_WORDS=(loopwise ana); COMP_CWORD=1; COMP_LINE='loopwise ana'; \
         COMP_POINT=${{#COMP_LINE}}; _loopwise loopwise ana loopwise; complete -p loopwise; \
         printf '%s\\n' \"${{COMPREPLY[@]}}\"",
        script.display()
    );
    let output = Command::new("bash").args(["-c", &check]).output().unwrap();
    let text = stdout(&output);
    assert!(
        text.contains("complete") && text.contains("loopwise"),
        "{text}"
    );
    assert!(text.lines().any(|line| line == "analyze"), "{text}");
}

#[test]
fn the_manual_page_renders_with_man() {
    if !have("man") {
        return;
    }
    let home = tempfile::tempdir().unwrap();
    let page = home.path().join("loopwise.1");
    std::fs::write(&page, stdout(&loopwise(home.path(), &["man"]))).unwrap();
    let output = Command::new("man")
        .env("MANPAGER", "cat")
        .env("MANWIDTH", "100")
        .arg("-l")
        .arg(&page)
        .output()
        .unwrap();
    let text = stdout(&output);
    for heading in ["NAME", "SYNOPSIS", "SUBCOMMANDS", "VERSION"] {
        assert!(text.contains(heading), "{heading}: {text}");
    }
    assert!(text.contains("loopwise-analyze"), "{text}");
}

#[test]
fn help_lists_global_options_apart_and_every_db_takes_postgres() {
    let home = tempfile::tempdir().unwrap();
    for command in [
        &["--help"][..],
        &["analyze", "--help"],
        &["serve", "--help"],
    ] {
        let help = stdout(&loopwise(home.path(), command));
        let (own, global) = help
            .split_once("Global options:")
            .unwrap_or_else(|| panic!("{command:?}: {help}"));
        assert!(global.contains("--log-format"), "{command:?}: {help}");
        assert!(!own.contains("--log-format"), "{command:?}: {help}");
    }
    for command in ["analyze", "report", "serve", "token", "db", "demo"] {
        let help = stdout(&loopwise(home.path(), &[command, "--help"]));
        let db = help
            .split("--db <URL>")
            .nth(1)
            .unwrap_or_else(|| panic!("{command}: {help}"));
        let text: String = db.split_whitespace().take(40).collect::<Vec<_>>().join(" ");
        assert!(text.contains("postgres://"), "{command}: {text}");
    }
}

/// Log lines are coloured for a person at a terminal, and not with NO_COLOR set (nor into a
/// pipe, which every other test checks by reading plain text).
#[test]
fn log_colours_stop_at_no_color() {
    if !have("script") {
        return;
    }
    let home = tempfile::tempdir().unwrap();
    let run = |no_color: bool| {
        // A warning at any level: a --path that no commit touches.
        let repository = home.path().join("repo");
        let setup = format!(
            "git init -q {0} && git -C {0} -c user.name=a -c user.email=a@b commit -q \
             --allow-empty -m one",
            repository.display()
        );
        assert!(
            Command::new("sh")
                .args(["-c", &setup])
                .status()
                .unwrap()
                .success()
        );
        let command = format!(
            "{BINARY} analyze {} --db {} --path nothing-here --format json > /dev/null",
            repository.display(),
            home.path().join("x.db").display()
        );
        let mut script = loopwise_command("script", home.path());
        script.args(["-qec", &command, "/dev/null"]);
        if no_color {
            script.env("NO_COLOR", "1");
        }
        let output = script.output().unwrap();
        let _ = std::fs::remove_dir_all(&repository);
        String::from_utf8_lossy(&output.stdout).into_owned()
    };
    let coloured = run(false);
    assert!(
        coloured.contains("nothing-here") && coloured.contains('\u{1b}'),
        "{coloured:?}"
    );
    let plain = run(true);
    assert!(
        plain.contains("nothing-here") && !plain.contains('\u{1b}'),
        "{plain:?}"
    );
}
