//! The git importer against repositories built with the git CLI, the independent reference.

use loopwise_ingest::git::GitRepository;
use std::collections::HashSet;
use std::path::Path;
use std::process::Command;

fn git(dir: &Path, args: &[&str], date: i64) -> String {
    let output = Command::new("git")
        .args([
            "-c",
            "user.name=Tess Ter",
            "-c",
            "user.email=tess@example.com",
            "-c",
            "init.defaultBranch=main",
        ])
        .args(["-c", "commit.gpgSign=false", "-c", "tag.gpgSign=false"])
        .args(args)
        .current_dir(dir)
        .env("HOME", dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_AUTHOR_DATE", format!("@{date} +0200"))
        .env("GIT_COMMITTER_DATE", format!("@{} +0000", date + 30))
        .output()
        .expect("git runs");
    assert!(
        output.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap().trim().to_string()
}

fn commit(dir: &Path, file: &str, date: i64) -> String {
    std::fs::create_dir_all(dir.join(file).parent().unwrap()).unwrap();
    std::fs::write(dir.join(file), date.to_string()).unwrap();
    git(dir, &["add", "."], date);
    git(
        dir,
        &["commit", "-q", "-m", &format!("change {file} at {date}")],
        date,
    );
    git(dir, &["rev-parse", "HEAD"], date)
}

fn walk_all(
    repository: &GitRepository,
    known: &HashSet<String>,
) -> (Vec<loopwise_core::Change>, loopwise_ingest::git::Walk) {
    let mut changes = Vec::new();
    let walk = repository
        .walk(known, &mut |batch| changes.extend(batch))
        .unwrap();
    (changes, walk)
}

#[test]
fn reads_commits_tags_and_reverts_like_git_does() {
    let directory = tempfile::tempdir().unwrap();
    let dir = directory.path();
    git(dir, &["init", "-q"], 0);
    let first = commit(dir, "a.txt", 1_000_000);
    git(dir, &["tag", "-a", "v1.0", "-m", "release"], 1_000_500);
    let second = commit(dir, "b.txt", 1_001_000);
    git(dir, &["tag", "light"], 1_001_500);
    git(dir, &["revert", "--no-edit", &second], 1_002_000);
    let revert = git(dir, &["rev-parse", "HEAD"], 0);
    // A tag of a tag, and a tag of a tree: the first resolves to its commit, the second is no history.
    git(
        dir,
        &["tag", "-a", "outer", "-m", "tag of a tag", "v1.0"],
        1_003_000,
    );
    let tree = git(dir, &["rev-parse", "HEAD^{tree}"], 0);
    git(dir, &["tag", "a-tree", &tree], 1_003_000);

    let repository = GitRepository::open(dir).unwrap();
    let (changes, walk) = walk_all(&repository, &HashSet::new());
    let expected: HashSet<String> = git(dir, &["rev-list", "--all"], 0)
        .lines()
        .map(str::to_string)
        .collect();
    let found: HashSet<String> = changes.iter().map(|c| c.sha.clone()).collect();
    assert_eq!(found, expected);
    assert_eq!(walk.new_changes, 3);
    assert_eq!(walk.head.as_deref(), Some(revert.as_str()));

    let by_sha = |sha: &str| changes.iter().find(|c| c.sha == sha).unwrap();
    assert_eq!(
        by_sha(&first).author_time,
        1_000_000,
        "author time is UTC seconds, whatever the offset"
    );
    assert_eq!(by_sha(&first).committer_time, 1_000_030);
    assert_eq!(by_sha(&first).author_name, "Tess Ter");
    assert_eq!(by_sha(&second).parents, vec![first.clone()]);
    assert_eq!(by_sha(&revert).reverts.as_deref(), Some(second.as_str()));
    assert_eq!(
        by_sha(&revert).subject,
        "Revert \"change b.txt at 1001000\""
    );

    let tags: Vec<(String, String, i64, bool)> = walk
        .tags
        .iter()
        .map(|t| (t.name.clone(), t.commit.clone(), t.time, t.annotated))
        .collect();
    assert_eq!(
        tags,
        vec![
            ("light".to_string(), second.clone(), 1_001_030, false), // the commit's committer date
            ("outer".to_string(), first.clone(), 1_003_030, true),   // the outer tag's tagger date
            ("v1.0".to_string(), first.clone(), 1_000_530, true),    // tagger date
        ]
    );
}

#[test]
fn a_rerun_reads_only_new_commits_and_bare_clones_read_the_same() {
    let directory = tempfile::tempdir().unwrap();
    let dir = directory.path().join("work");
    std::fs::create_dir(&dir).unwrap();
    git(&dir, &["init", "-q"], 0);
    for day in 0..5 {
        commit(&dir, &format!("f{day}.txt"), 2_000_000 + day * 86_400);
    }
    let repository = GitRepository::open(&dir).unwrap();
    let (first_run, _) = walk_all(&repository, &HashSet::new());
    assert_eq!(first_run.len(), 5);
    let known: HashSet<String> = first_run.iter().map(|c| c.sha.clone()).collect();
    let newest = commit(&dir, "late.txt", 3_000_000);
    let repository = GitRepository::open(&dir).unwrap();
    let (second_run, _) = walk_all(&repository, &known);
    assert_eq!(
        second_run
            .iter()
            .map(|c| c.sha.as_str())
            .collect::<Vec<_>>(),
        vec![newest.as_str()]
    );

    let bare = directory.path().join("bare.git");
    git(
        directory.path(),
        &[
            "clone",
            "-q",
            "--bare",
            dir.to_str().unwrap(),
            bare.to_str().unwrap(),
        ],
        0,
    );
    let (bare_run, _) = walk_all(&GitRepository::open(&bare).unwrap(), &HashSet::new());
    let mut work: Vec<_> = first_run
        .into_iter()
        .chain(second_run)
        .map(|c| (c.sha, c.author_time, c.parents))
        .collect();
    let mut from_bare: Vec<_> = bare_run
        .into_iter()
        .map(|c| (c.sha, c.author_time, c.parents))
        .collect();
    work.sort();
    from_bare.sort();
    assert_eq!(work, from_bare);
    assert_eq!(GitRepository::open(&bare).unwrap().default_name(), "bare");
}

#[test]
fn path_touches_match_git_log_with_a_pathspec() {
    let directory = tempfile::tempdir().unwrap();
    let dir = directory.path();
    git(dir, &["init", "-q"], 0);
    let mut commits = Vec::new();
    for (i, file) in [
        "services/api/a.rs",
        "services/web/b.rs",
        "services/api/deep/c.rs",
        "README",
        "services/api/a.rs",
    ]
    .iter()
    .enumerate()
    {
        commits.push(commit(dir, file, 4_000_000 + i as i64 * 100));
    }
    git(dir, &["rm", "-q", "-r", "services/api/deep"], 4_001_000);
    git(dir, &["commit", "-q", "-m", "remove deep"], 4_001_000);
    commits.push(git(dir, &["rev-parse", "HEAD"], 0));

    let repository = GitRepository::open(dir).unwrap();
    let pairs: Vec<(String, Option<String>)> = commits
        .iter()
        .enumerate()
        .map(|(i, sha)| (sha.clone(), i.checked_sub(1).map(|p| commits[p].clone())))
        .collect();
    let answers = repository
        .touches_paths(&pairs, &["services/api".to_string()], &mut |_| {})
        .unwrap();
    let touching: HashSet<String> = git(
        dir,
        &["log", "--format=%H", "--full-history", "--", "services/api"],
        0,
    )
    .lines()
    .map(str::to_string)
    .collect();
    for ((sha, _), touched) in pairs.iter().zip(&answers) {
        assert_eq!(*touched, touching.contains(sha), "commit {sha}");
    }
    assert_eq!(answers, vec![true, false, true, false, true, true]);
}

#[test]
fn a_directory_that_is_not_a_repository_is_an_error() {
    let directory = tempfile::tempdir().unwrap();
    let error = GitRepository::open(directory.path()).unwrap_err();
    assert!(
        error.to_string().contains("is not a git repository"),
        "{error}"
    );
    let error = GitRepository::open(&directory.path().join("missing")).unwrap_err();
    assert!(
        error.to_string().contains("no such file or directory"),
        "{error}"
    );
}

/// Writes `text` as a commit (or tag) object exactly as given, bypassing git's checks, the way
/// broken history gets into real repositories; returns its sha.
fn craft(dir: &Path, kind: &str, text: &str) -> String {
    let file = dir.join(".git").join("crafted-object");
    std::fs::write(&file, text).unwrap();
    git(
        dir,
        &[
            "hash-object",
            "-t",
            kind,
            "-w",
            "--literally",
            file.to_str().unwrap(),
        ],
        0,
    )
}

const TESS: &str = "Tess Ter <tess@example.com>";

/// A commit object of `tree` and `parents` with the given raw date fields.
fn crafted_commit(
    dir: &Path,
    tree: &str,
    parents: &[&str],
    author_date: &str,
    committer_date: &str,
    subject: &str,
) -> String {
    let mut text = format!("tree {tree}\n");
    for parent in parents {
        text.push_str(&format!("parent {parent}\n"));
    }
    text.push_str(&format!(
        "author {TESS} {author_date}\ncommitter {TESS} {committer_date}\n\n{subject}\n"
    ));
    craft(dir, "commit", &text)
}

/// Regression (issue 12's companion): a commit whose date git cannot read failed the whole
/// walk when the date was not a number ("could not decode object"), and was stored at 1970
/// when it was a number beyond 64 bits or empty.
#[test]
fn commits_with_unreadable_dates_are_read_with_a_substitute_counted_or_skipped() {
    let directory = tempfile::tempdir().unwrap();
    let dir = directory.path();
    git(dir, &["init", "-q"], 0);
    let base = commit(dir, "a.txt", 1_000_000);
    let tree = git(dir, &["rev-parse", "HEAD^{tree}"], 0);
    // main: base <- a <- b <- c <- d <- e, where only e was made by `git commit`.
    let a = crafted_commit(dir, &tree, &[&base], "notadate +0000", "1000130 +0000", "a");
    let b = crafted_commit(
        dir,
        &tree,
        &[&a],
        "99999999999999999999 +0000",
        "1000230 +0000",
        "b",
    );
    let c = crafted_commit(
        dir,
        &tree,
        &[&b],
        "1000300 +0000",
        "-99999999999999999999 +0000",
        "c",
    );
    let d = crafted_commit(dir, &tree, &[&c], "", "sometime +0000", "d");
    git(dir, &["reset", "-q", "--hard", &d], 0);
    let e = commit(dir, "e.txt", 1_000_500);
    // A branch whose tip has no readable date and no child to take one from.
    let f = crafted_commit(dir, &tree, &[&e], "never +0000", "never +0000", "f");
    git(dir, &["branch", "undated-tip", &f], 0);
    // A commit that cannot be decoded at all (its parent is not an object id), below a normal one.
    let g = craft(
        dir,
        "commit",
        &format!(
            "tree {tree}\nparent zzzz\nauthor {TESS} 1000700 +0000\ncommitter {TESS} 1000730 +0000\n\ng\n"
        ),
    );
    let h = crafted_commit(dir, &tree, &[&g], "1000800 +0000", "1000830 +0000", "h");
    git(dir, &["branch", "after-undecodable", &h], 0);
    // A lightweight tag of c (its committer date unreadable), an annotated tag of e whose
    // tagger date is unreadable, and a tag of the commit nothing can date.
    // (`git tag` itself refuses c: "Timestamp too large for this system".)
    git(dir, &["update-ref", "refs/tags/light-c", &c], 0);
    let bad_tagger = craft(
        dir,
        "tag",
        &format!("object {e}\ntype commit\ntag bad-tagger\ntagger {TESS} later +0000\n\nrelease\n"),
    );
    git(dir, &["update-ref", "refs/tags/bad-tagger", &bad_tagger], 0);
    git(dir, &["tag", "undated", &f], 0);

    let repository = GitRepository::open(dir).unwrap();
    let (changes, walk) = walk_all(&repository, &HashSet::new());

    let times: std::collections::BTreeMap<&str, (i64, i64)> = changes
        .iter()
        .map(|change| {
            (
                change.sha.as_str(),
                (change.author_time, change.committer_time),
            )
        })
        .collect();
    let expected: std::collections::BTreeMap<&str, (i64, i64)> = [
        (base.as_str(), (1_000_000, 1_000_030)),
        // An unreadable author date is 0, which reports never believe (no lead time, counted);
        // the author date stands in for an unreadable committer date.
        (a.as_str(), (0, 1_000_130)),
        (b.as_str(), (0, 1_000_230)),
        (c.as_str(), (1_000_300, 1_000_300)),
        // Neither readable: the committer date of the child the walk came from, e.
        (d.as_str(), (0, 1_000_530)),
        (e.as_str(), (1_000_500, 1_000_530)),
        (h.as_str(), (1_000_800, 1_000_830)),
    ]
    .into_iter()
    .collect();
    assert_eq!(times, expected);
    assert_eq!(walk.new_changes, 7);
    let by_sha = |sha: &str| changes.iter().find(|change| change.sha == sha).unwrap();
    assert_eq!(by_sha(&a).author_name, "Tess Ter");
    assert_eq!(by_sha(&a).author_email, "tess@example.com");
    assert_eq!(by_sha(&a).subject, "a");
    assert_eq!(by_sha(&d).parents, vec![c.clone()]);
    assert_eq!(by_sha(&h).parents, vec![g.clone()], "the parent as written");

    let sorted = |shas: &[String]| {
        let mut shas = shas.to_vec();
        shas.sort();
        shas
    };
    assert_eq!(walk.unparseable_dates.count, 4);
    assert_eq!(
        sorted(&walk.unparseable_dates.first),
        sorted(&[a.clone(), b.clone(), c.clone(), d.clone()])
    );
    assert_eq!(walk.skipped_commits.count, 2);
    assert_eq!(
        sorted(&walk.skipped_commits.first),
        sorted(&[f.clone(), g.clone()])
    );

    let tags: Vec<(String, String, i64)> = walk
        .tags
        .iter()
        .map(|tag| (tag.name.clone(), tag.commit.clone(), tag.time))
        .collect();
    assert_eq!(
        tags,
        vec![
            ("bad-tagger".to_string(), e.clone(), 1_000_530), // e's committer date
            ("light-c".to_string(), c.clone(), 1_000_300),    // c's author date
        ]
    );
    assert_eq!(walk.skipped_tags.count, 1);
    assert_eq!(walk.skipped_tags.first, vec!["undated".to_string()]);

    // A second run knows what the first stored: of what was skipped, it meets again only the
    // tip (the undecodable commit lies below a known one).
    let known: HashSet<String> = changes.iter().map(|change| change.sha.clone()).collect();
    let (again, walk) = walk_all(&repository, &known);
    assert!(again.is_empty());
    assert_eq!(walk.unparseable_dates.count, 0);
    assert_eq!(walk.skipped_commits.first, vec![f.clone()]);
    assert_eq!(walk.skipped_commits.count, 1);

    // Path questions about the crafted commits are answered too.
    let answers = repository
        .touches_paths(
            &[
                (a.clone(), Some(base.clone())),
                (e.clone(), Some(d.clone())),
                (h.clone(), Some(g.clone())),
            ],
            &["a.txt".to_string(), "e.txt".to_string()],
            &mut |_| {},
        )
        .unwrap();
    assert_eq!(answers, vec![false, true, false]);
}
