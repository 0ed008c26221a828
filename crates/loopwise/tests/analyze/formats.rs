//! The other output formats: they succeed and name the service; CSV is a header plus one row
//! per reported (service, environment).

use crate::support::{DAY, HOUR, SINCE, Scratch, T0, UNTIL, loopwise};

#[test]
fn table_markdown_and_csv_name_the_service() {
    let scratch = Scratch::new();
    let repo = scratch.repo("storefront");
    let c1 = repo.commit("f.txt", T0, "c1");
    repo.tag("v1.0", "HEAD", T0 + HOUR);
    let c2 = repo.commit("f.txt", T0 + DAY, "c2");
    repo.tag("v1.1", "HEAD", T0 + 2 * DAY);
    let repo_path = repo.path.to_str().unwrap();
    let db = scratch.db("x");
    let db = db.to_str().unwrap();
    let base = |format: &'static str| {
        vec![
            "analyze",
            repo_path,
            "--db",
            db,
            "--since",
            SINCE,
            "--until",
            UNTIL,
            "--deploy-tags",
            "v*",
            "--service",
            "storefront-api",
            "--format",
            format,
        ]
    };
    for format in ["table", "markdown", "csv"] {
        let stdout = loopwise(&scratch.home(), &base(format)).ok();
        assert!(
            stdout.contains("storefront-api"),
            "{format} names the service:\n{stdout}"
        );
    }
    let csv = loopwise(&scratch.home(), &base("csv")).ok();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 2, "header and one row:\n{csv}");
    assert!(lines[0].starts_with("service,environment,"), "{csv}");
    assert!(lines[1].starts_with("storefront-api,production,"), "{csv}");
    assert_eq!(
        lines[0].split(',').count(),
        lines[1].split(',').count(),
        "as many fields as the header (no quoted commas here):\n{csv}"
    );

    // Two production environments from a deploy log: two rows.
    let log = scratch.file(
        "deploys.csv",
        &format!(
            "sha,time,environment\n{c1},2024-01-02,production\n{c2},2024-01-03,production\n\
             {c1},2024-01-02T12:00:00Z,live\n{c2},2024-01-04,live\n"
        ),
    );
    let args = vec![
        "analyze",
        repo_path,
        "--db",
        db,
        "--since",
        SINCE,
        "--until",
        UNTIL,
        "--deploy-log",
        log.to_str().unwrap(),
        "--service",
        "storefront-api",
        "--format",
        "csv",
    ];
    let csv = loopwise(&scratch.home(), &args).ok();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 3, "header and one row per environment:\n{csv}");
    let mut rows: Vec<&str> = lines[1..]
        .iter()
        .map(|line| line.splitn(3, ',').take(2).last().unwrap())
        .collect();
    rows.sort();
    assert_eq!(rows, vec!["live", "production"], "{csv}");
}
