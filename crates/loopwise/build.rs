//! `loopwise --version` names the commit and the day it was built from: the git commit of the
//! checkout (`unknown` outside one) and the build date (UTC; `SOURCE_DATE_EPOCH` when set, for
//! reproducible builds).

use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let output = Command::new("git").args(args).output().ok()?;
    let text = String::from_utf8(output.stdout).ok()?;
    (output.status.success() && !text.trim().is_empty()).then(|| text.trim().to_string())
}

fn main() {
    let commit = git(&["rev-parse", "--short=12", "HEAD"]).unwrap_or_else(|| "unknown".into());
    // Rebuilt when the checkout moves to another commit.
    if let Some(git_dir) = git(&["rev-parse", "--absolute-git-dir"]) {
        println!("cargo:rerun-if-changed={git_dir}/HEAD");
        println!("cargo:rerun-if-changed={git_dir}/refs/heads");
        println!("cargo:rerun-if-changed={git_dir}/packed-refs");
    }
    println!("cargo:rerun-if-env-changed=SOURCE_DATE_EPOCH");
    let seconds = std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|text| text.trim().parse::<i64>().ok())
        .unwrap_or_else(|| jiff::Timestamp::now().as_second());
    let date = jiff::Timestamp::from_second(seconds)
        .map(|instant| instant.strftime("%Y-%m-%d").to_string())
        .unwrap_or_else(|_| "unknown".into());
    println!("cargo:rustc-env=LOOPWISE_COMMIT={commit}");
    println!("cargo:rustc-env=LOOPWISE_BUILD_DATE={date}");
}
