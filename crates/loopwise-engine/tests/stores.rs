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

on_both_stores!(a_report_is_built_from_stored_events);

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

    // The cache answers the same report again, and notices every kind of write since.
    let fresh = |store: &dyn Store| {
        let report = Engine::new(organisation.clone()).report(store, &query);
        serde_json::to_value(report.unwrap()).unwrap()
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
}
