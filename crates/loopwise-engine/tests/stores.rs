//! The engine over both stores: the same events give the same report on SQLite and on
//! PostgreSQL, and the engine's derived facts follow every kind of write.

use loopwise_core::entities::{Deployment, DeploymentStatus, Source};
use loopwise_core::events::{Event, Incident, PushedChange};
use loopwise_core::time::Window;
use loopwise_engine::{Engine, Organisation, Ownership, ReportQuery};
use loopwise_store::Store;
use loopwise_store::conformance::{change, deployment, git_import, incident};

macro_rules! on_both_stores {
    ($($check:ident),+ $(,)?) => {
        mod sqlite {
            $(
                #[test]
                fn $check() {
                    let store = loopwise_store_sqlite::SqliteStore::open_in_memory().unwrap();
                    super::$check(&store);
                }
            )+
        }
        mod postgres {
            $(
                #[test]
                fn $check() {
                    let Some(database) = loopwise_store_postgres::testing::TestDatabase::create() else {
                        return;
                    };
                    super::$check(&*database);
                }
            )+
        }
    };
}

on_both_stores!(
    a_report_is_built_from_stored_events,
    a_restarted_engine_reads_its_kept_facts,
);

fn a_report_is_built_from_stored_events(store: &dyn Store) {
    const HOUR: i64 = 3_600;
    let push = |sha: &str, parents: &[&str], time: i64| {
        Event::Change(PushedChange {
            repository: "acme/checkout".into(),
            branch: Some("main".into()),
            change: change(sha, parents, time),
        })
    };
    let mut staging = deployment(Source::Api, "s1", "checkout", "staging", 10 * HOUR);
    staging.sha = "c3".into();
    let events = vec![
        push("a1", &[], 0),
        push("b2", &["a1"], HOUR),
        push("c3", &["b2"], 2 * HOUR),
        Event::Deployment(Deployment {
            sha: "a1".into(),
            ..deployment(Source::Api, "d1", "checkout", "production", HOUR / 2)
        }),
        Event::Deployment(Deployment {
            sha: "c3".into(),
            ..deployment(Source::Api, "d2", "checkout", "production", 5 * HOUR)
        }),
        Event::Deployment(staging),
        Event::Incident(Incident {
            resolved_at: Some(7 * HOUR),
            ..incident("inc", "checkout", 6 * HOUR)
        }),
    ];
    store.apply_events(&events).unwrap();
    assert_eq!(store.repositories().unwrap().len(), 1);
    let organisation = Organisation {
        ownership: Ownership::new(
            [("checkout".to_string(), "payments".to_string())],
            [("payments".to_string(), "commerce".to_string())],
        )
        .unwrap(),
        incident_link_window_seconds: 72 * HOUR,
        ..Organisation::default()
    };
    let query = ReportQuery::organisation(Window::new(0, 24 * HOUR).unwrap());
    let cache = Engine::new(organisation.clone());
    let report = cache.report(store, &query).unwrap();
    assert_eq!(report.services.len(), 1, "staging is not production");
    let service = &report.services[0];
    assert_eq!(
        (
            service.service.as_str(),
            service.team.as_deref(),
            service.tribe.as_deref()
        ),
        ("checkout", Some("payments"), Some("commerce"))
    );
    assert_eq!(service.deployments.count, 2);
    // d1 ships a1 (baseline); d2 ships b2 and c3: 5h - 1h = 4h, 5h - 2h = 3h.
    assert_eq!(
        (
            service.lead_time.changes,
            service.lead_time.baseline_changes
        ),
        (2, 1)
    );
    assert_eq!(service.lead_time.median_seconds, Some(3.5 * HOUR as f64));
    // The incident at 6h links to d2 (latest before); recovery 7h - 5h.
    assert_eq!(
        (
            service.change_failure_rate.failed,
            service.change_failure_rate.deployments
        ),
        (1, 2)
    );
    assert_eq!(
        service.recovery_time.median_seconds,
        Some(2.0 * HOUR as f64)
    );
    assert_eq!(service.time_to_restore.median_seconds, Some(HOUR as f64));
    assert_eq!(service.incidents[0].deployment.as_deref(), Some("d2"));

    // The cache answers the same report again, and notices every kind of write since. The
    // reference derives everything anew: a new engine over a copy of the store that holds the
    // data but none of the facts the engines kept (an export leaves them out).
    let fresh = |store: &dyn Store| {
        let copy = copy_without_kept_facts(store);
        let report = Engine::new(organisation.clone()).report(&copy, &query);
        serde_json::to_value(report.unwrap()).unwrap()
    };
    // A restarted engine reads the kept facts, and notices writes since as well.
    let restarted = |store: &dyn Store| {
        serde_json::to_value(
            Engine::new(organisation.clone())
                .report(store, &query)
                .unwrap(),
        )
        .unwrap()
    };
    let cached =
        |store: &dyn Store| serde_json::to_value(cache.report(store, &query).unwrap()).unwrap();
    assert_eq!(cached(store), fresh(store));
    let writes = [
        // A new commit and the deployment that ships it: lead time 8h - 7h.
        vec![
            push("d4", &["c3"], 7 * HOUR),
            Event::Deployment(Deployment {
                sha: "d4".into(),
                ..deployment(Source::Api, "d3", "checkout", "production", 8 * HOUR)
            }),
        ],
        // d2 is now a failure by its status too.
        vec![Event::Deployment(Deployment {
            sha: "c3".into(),
            status: DeploymentStatus::Failure,
            ..deployment(Source::Api, "d2", "checkout", "production", 5 * HOUR)
        })],
        // The incident is resolved later.
        vec![Event::Incident(Incident {
            resolved_at: Some(9 * HOUR),
            ..incident("inc", "checkout", 6 * HOUR)
        })],
    ];
    for batch in writes {
        let before = cached(store);
        store.apply_events(&batch).unwrap();
        let after = cached(store);
        assert_ne!(after, before, "{batch:?} changed the report");
        assert_eq!(after, fresh(store), "the cached report after {batch:?}");
        assert_eq!(
            restarted(store),
            after,
            "a restarted engine after {batch:?}"
        );
    }
    // Git history replacing the pushed commits (a mirror fetch) is a write too.
    let before = cached(store);
    store
        .apply_git_import(git_import(
            "acme/checkout",
            &[change("a1", &[], 0), change("b2", &["a1"], 0)],
        ))
        .unwrap();
    assert_ne!(cached(store), before);
    assert_eq!(cached(store), fresh(store));
    assert_eq!(restarted(store), fresh(store));
}

/// A new SQLite store with every record of `store` (an export, imported), so none of the facts
/// an engine kept in `store`.
fn copy_without_kept_facts(store: &dyn Store) -> loopwise_store_sqlite::SqliteStore {
    let mut records = Vec::new();
    store
        .export(&mut |record| {
            records.push(record);
            Ok(())
        })
        .unwrap();
    let copy = loopwise_store_sqlite::SqliteStore::open_in_memory().unwrap();
    copy.import(&mut records.into_iter().map(Ok)).unwrap();
    copy
}

/// What an engine derived is kept in the store: a new engine (a restart) answers the same
/// report, lists the same shipped commits, and links an incident that names a commit, which
/// needs the commit graph again.
fn a_restarted_engine_reads_its_kept_facts(store: &dyn Store) {
    const HOUR: i64 = 3_600;
    // a1 ← b2 ← c3 ← r4, where r4 reverts b2.
    let mut revert = change("r4", &["c3"], 3 * HOUR);
    revert.reverts = Some("b2".into());
    let history = [
        change("a1", &[], 0),
        change("b2", &["a1"], HOUR),
        change("c3", &["b2"], 2 * HOUR),
        revert,
    ];
    store
        .apply_git_import(git_import("/srv/git/shop/.git", &history))
        .unwrap();
    let deploy = |id: &str, sha: &str, time: i64| {
        Event::Deployment(Deployment {
            sha: sha.into(),
            ..deployment(Source::Api, id, "shop", "production", time)
        })
    };
    store
        .apply_events(&[
            deploy("d1", "a1", HOUR / 2),
            deploy("d2", "c3", 4 * HOUR),
            deploy("d3", "r4", 6 * HOUR),
            // Named by a commit d2 shipped, and outside any latest-before window of d2.
            Event::Incident(Incident {
                resolved_at: Some(5 * HOUR),
                caused_by: Some("b2".into()),
                ..incident("inc", "shop", 4 * HOUR + 1_800)
            }),
        ])
        .unwrap();
    let query = ReportQuery::organisation(Window::new(0, 24 * HOUR).unwrap());
    let first = Engine::default();
    let report = serde_json::to_value(first.report(store, &query).unwrap()).unwrap();
    let service = &report["services"][0];
    // d2 ships b2 and c3 (3h and 2h), d3 ships r4 (3h); d2 failed (reverted, and the incident
    // names b2), recovered by the incident's resolution at 5h, before d3 at 6h: 1h.
    assert_eq!(service["lead_time"]["changes"], 3);
    assert_eq!(service["lead_time"]["median_seconds"], 3.0 * HOUR as f64);
    assert_eq!(service["change_failure_rate"]["failed"], 1);
    assert_eq!(service["recovery_time"]["median_seconds"], HOUR as f64);
    assert_eq!(service["incidents"][0]["deployment"], "d2");
    assert_eq!(service["incidents"][0]["rule"], "explicit");
    let kept = store.derived("chain", "shop", "production").unwrap();
    assert!(
        kept.is_some_and(|kept| !kept.data.is_empty()),
        "the chain's facts are kept"
    );

    let restarted = Engine::default();
    let again = serde_json::to_value(restarted.report(store, &query).unwrap()).unwrap();
    assert_eq!(again, report);
    let service_query = ReportQuery {
        service: Some("shop".into()),
        ..query.clone()
    };
    let shipped = |engine: &Engine| {
        let mut listed = Vec::new();
        engine
            .analyze_chains_with_changes(store, &service_query, |_, analysis, kept| {
                for (position, facts) in analysis.deployments.iter().enumerate() {
                    let mut shas: Vec<&str> = kept.by_deployment[position]
                        .iter()
                        .map(|change| change.sha.as_str())
                        .collect();
                    shas.sort_unstable();
                    listed.push(format!("{}: {}", facts.deployment.id, shas.join(" ")));
                }
            })
            .unwrap();
        listed
    };
    assert_eq!(
        shipped(&Engine::default()),
        ["d1: a1", "d2: b2 c3", "d3: r4"]
    );
    assert_eq!(shipped(&restarted), shipped(&first));
}
