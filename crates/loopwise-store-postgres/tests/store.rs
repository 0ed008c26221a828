//! The PostgreSQL store against the shared conformance suite, on a real server (see
//! `scripts/with-postgres.sh`), plus what only PostgreSQL has: a server that can refuse, stop
//! and come back, and several processes migrating at once.

use loopwise_store::{Store, StoreError};
use loopwise_store_postgres::testing::{PrivateServer, ScratchDatabase, TestDatabase};
use loopwise_store_postgres::{PostgresStore, SCHEMA_VERSION};

loopwise_store::store_conformance_tests!(match TestDatabase::create() {
    Some(database) => database,
    None => return,
});

#[test]
fn an_unreachable_server_is_a_clear_open_error() {
    // A port nobody listens on: refused at once.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let error = PostgresStore::open(&format!("postgres://loopwise:pw@127.0.0.1:{port}/loopwise"))
        .unwrap_err();
    let message = error.to_string();
    assert!(matches!(error, StoreError::Open { .. }), "{message}");
    assert!(message.contains("cannot connect"), "{message}");
    assert!(message.contains(&format!("127.0.0.1:{port}")), "{message}");
    assert!(
        !message.contains(":pw@"),
        "no password in messages: {message}"
    );
}

#[test]
fn wrong_credentials_are_refused_with_a_clear_message_and_change_nothing() {
    let Some(server) = PrivateServer::start_with_password("right-password") else {
        return;
    };
    let url = |password: &str| {
        server
            .url()
            .replace("postgres@", &format!("postgres:{password}@"))
    };
    let error = PostgresStore::open(&url("wrong-password")).unwrap_err();
    let message = error.to_string();
    assert!(message.contains("refused the credentials"), "{message}");
    assert!(
        message.contains("password authentication failed"),
        "{message}"
    );
    assert!(!message.contains("wrong-password"), "{message}");
    // Nothing was created: the right password finds no loopwise schema yet.
    assert_eq!(
        loopwise_store_postgres::stored_schema_version(&url("right-password")).unwrap(),
        None
    );
    let store = PostgresStore::open(&url("right-password")).unwrap();
    assert_eq!(store.schema_version().unwrap(), SCHEMA_VERSION);
}

#[test]
fn a_newer_schema_is_refused_untouched() {
    let Some(database) = ScratchDatabase::create() else {
        return;
    };
    drop(PostgresStore::open(database.url()).unwrap());
    let mut client = postgres::Client::connect(database.url(), postgres::NoTls).unwrap();
    client
        .execute(
            "UPDATE loopwise_schema SET version = $1",
            &[&(SCHEMA_VERSION + 1)],
        )
        .unwrap();
    client
        .batch_execute("CREATE TABLE from_the_future (x int)")
        .unwrap();
    let error = PostgresStore::open(database.url()).unwrap_err();
    assert!(
        matches!(error, StoreError::SchemaTooNew { found, .. } if found == SCHEMA_VERSION + 1),
        "{error}"
    );
    assert!(error.to_string().contains("upgrade loopwise"));
    let version: i64 = client
        .query_one("SELECT version FROM loopwise_schema", &[])
        .unwrap()
        .get(0);
    assert_eq!(version, SCHEMA_VERSION + 1, "the version was left alone");
    let tables: i64 = client
        .query_one(
            "SELECT count(*) FROM pg_tables WHERE tablename = 'from_the_future'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(tables, 1);
}

#[test]
fn concurrent_opens_migrate_once() {
    let Some(database) = ScratchDatabase::create() else {
        return;
    };
    let stores: Vec<PostgresStore> = std::thread::scope(|scope| {
        let opening: Vec<_> = (0..6)
            .map(|_| scope.spawn(|| PostgresStore::open(database.url())))
            .collect();
        opening
            .into_iter()
            .map(|handle| handle.join().unwrap().unwrap())
            .collect()
    });
    for store in &stores {
        assert_eq!(store.schema_version().unwrap(), SCHEMA_VERSION);
    }
    let mut client = postgres::Client::connect(database.url(), postgres::NoTls).unwrap();
    let rows: i64 = client
        .query_one("SELECT count(*) FROM loopwise_schema", &[])
        .unwrap()
        .get(0);
    assert_eq!(rows, 1, "one version row, not one per opener");
}

#[test]
fn concurrent_writers_of_the_same_events_store_each_once() {
    use loopwise_core::events::Event;
    use loopwise_store::EventOutcome;
    let Some(database) = TestDatabase::create() else {
        return;
    };
    // Separate stores (separate pools), as separate nodes would have.
    let nodes: Vec<PostgresStore> = (0..4)
        .map(|_| PostgresStore::open(database.url()).unwrap())
        .collect();
    let events: Vec<Event> = (0..200)
        .map(|i| {
            Event::Deployment(loopwise_store::conformance::deployment(
                loopwise_core::entities::Source::Api,
                &format!("d{i:03}"),
                "api",
                "production",
                1_000 + i,
            ))
        })
        .collect();
    let outcomes: Vec<Vec<EventOutcome>> = std::thread::scope(|scope| {
        let writers: Vec<_> = nodes
            .iter()
            .enumerate()
            .map(|(n, node)| {
                // Each node sends the batch in another order, so their row locks cross.
                let mut batch = events.clone();
                batch.rotate_left(n * 50);
                scope.spawn(move || {
                    let mut all = Vec::new();
                    for chunk in batch.chunks(20) {
                        all.extend(node.apply_events(chunk).unwrap());
                    }
                    all
                })
            })
            .collect();
        writers.into_iter().map(|w| w.join().unwrap()).collect()
    });
    let inserted = outcomes
        .iter()
        .flatten()
        .filter(|o| **o == EventOutcome::Inserted)
        .count();
    assert_eq!(inserted, 200, "each event inserted by exactly one node");
    assert_eq!(database.counts().unwrap().deployments, 200);
}

#[test]
fn the_store_recovers_by_itself_when_the_database_returns() {
    let Some(server) = PrivateServer::start() else {
        return;
    };
    let store = PostgresStore::open(&server.url()).unwrap();
    let deployment = |id: &str| {
        loopwise_core::events::Event::Deployment(loopwise_store::conformance::deployment(
            loopwise_core::entities::Source::Api,
            id,
            "api",
            "production",
            10,
        ))
    };
    store.apply_events(&[deployment("before")]).unwrap();
    server.stop();
    let error = store.apply_events(&[deployment("during")]).unwrap_err();
    assert!(matches!(error, StoreError::Database(_)), "{error}");
    assert!(store.ping().is_err());
    server.start_again();
    store
        .ping()
        .expect("a new connection once the server is back");
    store.apply_events(&[deployment("after")]).unwrap();
    let ids: Vec<String> = store
        .deployments(&Default::default())
        .unwrap()
        .into_iter()
        .map(|d| d.id)
        .collect();
    assert_eq!(ids, ["after", "before"], "nothing acknowledged was lost");
}
