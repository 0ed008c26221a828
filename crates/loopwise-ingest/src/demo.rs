//! A realistic demo organisation, so a newcomer sees a populated dashboard in one command
//! (`loopwise demo`).
//!
//! Four tribes of squads own about thirty services; each service has a repository with two
//! years of commits (a main line fed by short feature branches merged with merge commits, some
//! direct commits, reverts and hotfixes), production deployments of main-line commits (a few
//! services also deploy to staging first), and incidents that follow bad deployments. Squads
//! perform differently on purpose: some elite, some low, one that speeds up while its stability
//! drops (the pattern the dashboard warns about) and one that improves.
//!
//! Everything is pure and deterministic: the same seed and end instant give the same
//! organisation on every platform (the core's SplitMix64 generator, no wall clock). Failures
//! are made the way the core recognises them (PRODUCT.md section 4): a failed status followed by
//! a rollback, a rollback of a deployment that went out, a revert commit shipped by the next
//! deployment, a hotfix deployment, or an incident started shortly after the deployment.

use loopwise_core::entities::{Change, Deployment, DeploymentKind, DeploymentStatus, Source};
use loopwise_core::events::{Event, Incident};
use loopwise_core::random::SplitMix64;
use loopwise_core::time::{SECONDS_PER_DAY, SECONDS_PER_HOUR, Timestamp};
use loopwise_store::{DeploymentFilter, DeploymentScope, GitImportMessage, Store, StoreError};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashSet};
use std::sync::Arc;

/// The seed `loopwise demo` uses unless told otherwise.
pub const DEFAULT_SEED: u64 = 7;
/// How much history the organisation has: two years ending at the given instant.
pub const HISTORY_DAYS: i64 = 730;
/// Every repository's locator is `acme/<service>`: reports pair a service with the repository
/// whose last path segment is the service's name.
pub const REPOSITORY_OWNER: &str = "acme";
pub const PRODUCTION: &str = "production";
pub const STAGING: &str = "staging";

const MINUTE: i64 = 60;
/// Commits per import message: large enough to be cheap, small enough to bound the copy.
const CHANGES_PER_MESSAGE: usize = 10_000;
/// Incidents per `apply_events` call.
const INCIDENTS_PER_BATCH: usize = 1_000;

/// How a squad's delivery performs over the two years.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trajectory {
    /// Several deployments a day, lead time in hours, few failures, quick recovery.
    Elite,
    /// About a deployment a day, lead time around a day.
    High,
    /// About a deployment a week, lead time around a week.
    Medium,
    /// A deployment every few weeks, lead time in weeks, many failures, recovery in days.
    Low,
    /// Deploys more and more often over the last seven months while more of its deployments
    /// fail: speed up, stability down.
    Diverging,
    /// Starts low and ends high, steadily.
    Improving,
}

/// A tribe and its squads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemoTribe {
    pub name: String,
    pub squads: Vec<DemoSquad>,
}

/// A squad (team): how it performs and the services it owns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemoSquad {
    pub name: String,
    pub trajectory: Trajectory,
    pub services: Vec<String>,
}

/// One service: its repository's history, its deployments and its incidents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemoService {
    pub name: String,
    pub squad: String,
    pub tribe: String,
    pub trajectory: Trajectory,
    /// `acme/<name>`.
    pub repository: String,
    /// Parents before children: each commit's parents come earlier in the list.
    pub changes: Vec<Change>,
    /// In deployment order per environment.
    pub deployments: Vec<Deployment>,
    pub incidents: Vec<Incident>,
}

/// The whole organisation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemoOrganisation {
    pub seed: u64,
    /// The history ends before this instant.
    pub end: Timestamp,
    pub tribes: Vec<DemoTribe>,
    pub services: Vec<DemoService>,
}

/// How big the organisation is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DemoCounts {
    pub tribes: usize,
    pub squads: usize,
    pub services: usize,
    pub changes: usize,
    pub deployments: usize,
    pub incidents: usize,
}

/// A squad as laid out: its name, how it performs, the services it owns.
type SquadLayout = (&'static str, Trajectory, &'static [&'static str]);

/// Tribes and their squads. Names are what a real shop would use; one partner service has
/// quotes and an ampersand in its name so that every renderer's escaping is exercised (it has
/// no `/`, so `acme/<name>` still names its repository).
const LAYOUT: &[(&str, &[SquadLayout])] = &[
    (
        "commerce",
        &[
            (
                "payments",
                Trajectory::Elite,
                &["payment-gateway", "card-vault", "refund-service"],
            ),
            (
                "checkout",
                Trajectory::Diverging,
                &["checkout-api", "cart-service", "promo-engine"],
            ),
            (
                "pricing",
                Trajectory::High,
                &["pricing-engine", "tax-calculator"],
            ),
        ],
    ),
    (
        "discovery",
        &[
            (
                "search",
                Trajectory::Elite,
                &["search-api", "search-indexer", "autocomplete"],
            ),
            (
                "recommendations",
                Trajectory::Medium,
                &["recommender", "personalisation-api"],
            ),
            (
                "content",
                Trajectory::Improving,
                &["catalog-api", "media-pipeline", "editorial-cms"],
            ),
        ],
    ),
    (
        "platform",
        &[
            (
                "identity",
                Trajectory::High,
                &["auth-service", "user-profile", "session-store"],
            ),
            (
                "infrastructure",
                Trajectory::Medium,
                &["api-gateway", "config-service"],
            ),
            (
                "data",
                Trajectory::Low,
                &["warehouse-etl", "reporting-api", "event-bus"],
            ),
        ],
    ),
    (
        "fulfilment",
        &[
            (
                "logistics",
                Trajectory::Low,
                &["warehouse-sync", "shipping-labels", "inventory-service"],
            ),
            (
                "partners",
                Trajectory::Medium,
                &["partner-feeds", "o'reilly \"books\" & co"],
            ),
            (
                "customer-care",
                Trajectory::High,
                &["support-portal", "notification-service"],
            ),
        ],
    ),
];

/// Services whose pipeline deploys to staging first, then promotes the same commit.
const STAGED_SERVICES: &[&str] = &[
    "payment-gateway",
    "checkout-api",
    "auth-service",
    "catalog-api",
];

/// What the service's commits are about, for realistic subjects.
fn topics(service: &str) -> &'static [&'static str] {
    match service {
        "payment-gateway" => &["card capture", "3-D Secure flow", "payment retries"],
        "card-vault" => &["token encryption", "key rotation", "card lookup"],
        "refund-service" => &["partial refunds", "refund webhooks", "chargeback import"],
        "checkout-api" => &["the /pay endpoint", "address validation", "order summary"],
        "cart-service" => &["cart merge on login", "cart expiry", "line item totals"],
        "promo-engine" => &["voucher codes", "discount stacking", "campaign rules"],
        "pricing-engine" => &["price rules", "currency conversion", "price cache"],
        "tax-calculator" => &["VAT rates", "tax exemptions", "invoice rounding"],
        "search-api" => &["query parsing", "facet counts", "result ranking"],
        "search-indexer" => &["bulk reindex", "index mappings", "delta updates"],
        "autocomplete" => &["prefix suggestions", "typo tolerance", "popular queries"],
        "recommender" => &["similar items", "model scoring", "candidate filtering"],
        "personalisation-api" => &["user segments", "home page slots", "A/B buckets"],
        "catalog-api" => &["product variants", "category tree", "stock badges"],
        "media-pipeline" => &["image resizing", "video transcoding", "CDN purge"],
        "editorial-cms" => &["article drafts", "scheduled publishing", "preview links"],
        "auth-service" => &["login throttling", "OAuth callbacks", "password reset"],
        "user-profile" => &["profile updates", "GDPR export", "avatar upload"],
        "session-store" => &["session expiry", "token refresh", "Redis failover"],
        "api-gateway" => &["rate limiting", "request routing", "TLS settings"],
        "config-service" => &["feature toggles", "config reloads", "secret lookup"],
        "warehouse-etl" => &["nightly load", "schema drift", "late-arriving facts"],
        "reporting-api" => &["CSV exports", "dashboard queries", "report scheduling"],
        "event-bus" => &["consumer lag", "dead-letter queue", "topic retention"],
        "warehouse-sync" => &["stock levels", "pick lists", "SFTP import"],
        "shipping-labels" => &["carrier labels", "customs forms", "label reprints"],
        "inventory-service" => &["stock reservations", "reorder points", "batch tracking"],
        "partner-feeds" => &["feed parsing", "partner catalogue", "price feed"],
        "support-portal" => &["ticket search", "macro replies", "SLA timers"],
        "notification-service" => &["email templates", "push delivery", "SMS fallback"],
        _ => &["ISBN lookup", "royalty statements", "bulk orders"],
    }
}

/// Commit subjects; `{}` is one of the service's topics.
const SUBJECTS: &[&str] = &[
    "add retry to {}",
    "fix race in {}",
    "log failures of {}",
    "speed up {}",
    "validate input of {}",
    "add metrics for {}",
    "refactor {}",
    "handle timeouts in {}",
    "cache {} lookups",
    "test edge cases of {}",
    "document {}",
    "remove dead code from {}",
    "feature-flag the new {}",
    "tidy error messages of {}",
];

const INCIDENT_TITLES: &[&str] = &[
    "elevated 5xx on {}",
    "p99 latency above SLO for {}",
    "error rate spike in {}",
    "queue backlog growing behind {}",
    "pods restarting (OOM) in {}",
    "wrong results from {}",
];

const FIRST_NAMES: &[&str] = &[
    "Ada", "Ben", "Chloe", "Dev", "Elif", "Femi", "Greta", "Hiro", "Ines", "Jonas", "Kofi", "Lena",
    "Mateo", "Nora", "Omar", "Priya", "Quinn", "Rosa", "Sven", "Tara", "Uma", "Viktor", "Wen",
    "Yara", "Zoltan",
];
const LAST_NAMES: &[&str] = &[
    "Okafor",
    "Lindqvist",
    "Tanaka",
    "Moreau",
    "Novak",
    "Haddad",
    "Kowalski",
    "Silva",
    "Brennan",
    "Yilmaz",
    "Chen",
    "Fischer",
    "Mensah",
    "Rossi",
    "Larsen",
    "Patel",
];

/// The demo's draws beyond the core's, on its SplitMix64 (fixed, documented output, so a seed
/// gives the same organisation everywhere).
trait DemoDraws {
    /// Poisson distributed with the given mean (Knuth's method; the means here are small).
    fn poisson(&mut self, mean: f64) -> usize;
    /// One of `items`; empty text for none.
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str;
    /// A full 40-hex object id.
    fn sha(&mut self) -> String;
}

impl DemoDraws for SplitMix64 {
    fn poisson(&mut self, mean: f64) -> usize {
        if mean <= 0.0 {
            return 0;
        }
        let limit = (-mean).exp();
        let mut product = self.unit();
        let mut count = 0;
        while product > limit && count < 200 {
            product *= self.unit();
            count += 1;
        }
        count
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items
            .get(self.below(items.len()))
            .copied()
            .unwrap_or_default()
    }

    fn sha(&mut self) -> String {
        format!(
            "{:016x}{:016x}{:08x}",
            self.next_u64(),
            self.next_u64(),
            self.next_u64() >> 32
        )
    }
}

/// A squad's delivery habits at one moment.
#[derive(Debug, Clone, Copy)]
struct Pace {
    /// Merged pull requests and direct commits per weekday.
    integrations_per_weekday: f64,
    deployments_per_weekday: f64,
    /// Share of production deployments that go wrong.
    failure_rate: f64,
    /// Mean hours a feature branch lives before it is merged.
    branch_hours: f64,
    /// Typical minutes from a bad deployment to its remediation.
    recovery_minutes: f64,
    /// A weekend day's activity as a share of a weekday's.
    weekend_share: f64,
}

fn lerp(from: f64, to: f64, progress: f64) -> f64 {
    from + (to - from) * progress.clamp(0.0, 1.0)
}

impl Trajectory {
    /// The habits `days_before_end` days before the end of the history.
    fn pace(self, days_before_end: f64) -> Pace {
        let steady =
            |integrations, deployments, failure_rate, branch_hours, recovery, weekend| Pace {
                integrations_per_weekday: integrations,
                deployments_per_weekday: deployments,
                failure_rate,
                branch_hours,
                recovery_minutes: recovery,
                weekend_share: weekend,
            };
        match self {
            Trajectory::Elite => steady(5.0, 4.5, 0.04, 5.0, 25.0, 0.08),
            Trajectory::High => steady(1.8, 0.9, 0.09, 20.0, 120.0, 0.03),
            Trajectory::Medium => steady(1.2, 0.16, 0.14, 120.0, 600.0, 0.0),
            Trajectory::Low => steady(1.3, 0.06, 0.38, 400.0, 7_200.0, 0.0),
            Trajectory::Diverging => {
                // Calm until seven months before the end, then faster and faster, and worse;
                // squared, so most of the change falls in the last three months.
                let ramp = ((210.0 - days_before_end) / 210.0).clamp(0.0, 1.0).powi(2);
                Pace {
                    integrations_per_weekday: lerp(1.4, 3.2, ramp),
                    deployments_per_weekday: lerp(0.5, 3.0, ramp),
                    failure_rate: lerp(0.05, 0.45, ramp),
                    branch_hours: lerp(24.0, 6.0, ramp),
                    recovery_minutes: lerp(90.0, 240.0, ramp),
                    weekend_share: 0.05,
                }
            }
            Trajectory::Improving => {
                let ramp = (HISTORY_DAYS as f64 - days_before_end) / HISTORY_DAYS as f64;
                Pace {
                    integrations_per_weekday: lerp(1.0, 2.0, ramp),
                    deployments_per_weekday: lerp(0.08, 1.6, ramp),
                    failure_rate: lerp(0.35, 0.07, ramp),
                    branch_hours: lerp(300.0, 14.0, ramp),
                    recovery_minutes: lerp(3_000.0, 90.0, ramp),
                    weekend_share: 0.0,
                }
            }
        }
    }

    /// Most commits on one feature branch: fast teams merge small batches.
    fn most_branch_commits(self) -> usize {
        match self {
            Trajectory::Elite => 2,
            Trajectory::High | Trajectory::Diverging => 3,
            Trajectory::Medium | Trajectory::Improving | Trajectory::Low => 4,
        }
    }

    /// Typical deployment durations in minutes: fast pipelines go with fast teams.
    fn deploy_minutes(self) -> (i64, i64) {
        match self {
            Trajectory::Elite => (2, 9),
            Trajectory::High | Trajectory::Diverging => (5, 15),
            Trajectory::Medium | Trajectory::Improving => (10, 30),
            Trajectory::Low => (20, 60),
        }
    }
}

/// Something that happens to a repository at a moment; processed in time order so that the
/// main line only grows forward in time.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Happening {
    /// A pull request is merged, or a commit pushed straight to the main line.
    Integrate,
    /// The pipeline deploys the main line's tip (to staging first where there is one).
    Deploy,
    /// Staging went well: the staged main-line commit goes to production.
    Promote { main: usize },
    /// Production goes back to the last good deployment.
    Rollback,
    /// A revert of `target` (a change index) lands on the main line, deployed at `deploy_at`.
    Revert { target: usize, deploy_at: Timestamp },
    /// A hotfix commit lands on the main line, deployed as a hotfix at `deploy_at`.
    Hotfix { deploy_at: Timestamp },
    /// The main line's tip goes out to fix a failure: after a revert (a normal deployment,
    /// the revert it ships makes it the remediation) or as a hotfix deployment.
    FixDeploy { hotfix: bool },
}

/// How a bad production deployment goes wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Failure {
    /// The deployment itself fails; the pipeline rolls back.
    Status,
    /// It went out and is rolled back.
    RolledBack,
    /// It went out and one of its changes is reverted.
    Reverted,
    /// It went out and a hotfix follows.
    Hotfixed,
    /// It went out and caused an incident, fixed without a deployment.
    IncidentOnly,
}

#[derive(Debug, Clone)]
struct Author {
    name: String,
    email: String,
}

/// A main-line commit: its committer time, its change index, and the newest change it brought
/// (a merge's branch tip, else itself): what a revert of "this deployment" reverts.
#[derive(Debug, Clone, Copy)]
struct MainCommit {
    time: Timestamp,
    change: usize,
    newest_own: usize,
}

/// One service's history being generated.
#[derive(Debug)]
struct ServiceGenerator<'a> {
    service: &'a str,
    trajectory: Trajectory,
    staged: bool,
    authors: &'a [Author],
    topics: &'static [&'static str],
    rng: SplitMix64,
    start: Timestamp,
    end: Timestamp,
    /// Multiplies the squad's rates: services of one squad are alike, not identical.
    tempo: f64,
    /// Minutes one deployment of this service takes, before per-deployment variation.
    deploy_minutes: i64,
    changes: Vec<Change>,
    main: Vec<MainCommit>,
    deployments: Vec<Deployment>,
    incidents: Vec<Incident>,
    queue: BinaryHeap<Reverse<(Timestamp, u64, Happening)>>,
    sequence: u64,
    pull_requests: u32,
    production_count: usize,
    staging_count: usize,
    /// Main-line position of the last production deployment, whatever its outcome.
    last_released: Option<usize>,
    /// Main-line position of the last production deployment that went out and stayed.
    last_good: Option<usize>,
    /// Pipeline runs before this are skipped: production is being remediated, or a staged
    /// commit waits for its promotion.
    scheduled_deployments_blocked_until: Timestamp,
}

impl<'a> ServiceGenerator<'a> {
    fn schedule(&mut self, time: Timestamp, happening: Happening) {
        self.sequence += 1;
        self.queue.push(Reverse((time, self.sequence, happening)));
    }

    fn author(&mut self) -> Author {
        self.authors
            .get(self.rng.below(self.authors.len()))
            .cloned()
            .unwrap_or_else(|| Author {
                name: "Demo Developer".into(),
                email: "dev@acme.example".into(),
            })
    }

    fn subject(&mut self) -> String {
        let topic = self.rng.pick(self.topics);
        let template = self.rng.pick(SUBJECTS);
        format!("{}: {}", self.service, template.replace("{}", topic))
    }

    fn push_change(&mut self, change: Change) -> usize {
        self.changes.push(change);
        self.changes.len() - 1
    }

    fn tip(&self) -> Option<MainCommit> {
        self.main.last().copied()
    }

    /// A commit straight on the main line.
    fn commit_on_main(&mut self, time: Timestamp, subject: String, reverts: Option<String>) {
        let Some(tip) = self.tip() else { return };
        let author = self.author();
        let sha = self.rng.sha();
        let authored = time - self.rng.between(0, 30 * MINUTE);
        let change = self.push_change(Change {
            sha,
            parents: vec![self.changes[tip.change].sha.clone()],
            author_time: authored.max(tip.time).min(time),
            committer_time: time,
            author_name: author.name,
            author_email: author.email,
            subject,
            reverts,
        });
        self.main.push(MainCommit {
            time,
            change,
            newest_own: change,
        });
    }

    /// A merged pull request: a short feature branch from the main line as it was when the
    /// branch started, merged with a merge commit at `time`.
    fn merge_pull_request(&mut self, time: Timestamp, branch_hours: f64) {
        let Some(tip) = self.tip() else { return };
        let commits = 1 + self.rng.below(self.trajectory.most_branch_commits());
        let lifetime = (self.rng.exponential(branch_hours) * SECONDS_PER_HOUR as f64) as i64;
        let lifetime = lifetime.clamp(20 * MINUTE, 45 * SECONDS_PER_DAY);
        let forked_at = time - lifetime;
        let fork_position = self
            .main
            .partition_point(|commit| commit.time <= forked_at)
            .saturating_sub(1);
        let fork = self.main[fork_position];
        let author = self.author();
        // Rebased branches get fresh committer times just before the merge.
        let rebased = self.rng.chance(0.35);
        let earliest = forked_at.max(fork.time + MINUTE);
        let latest = time - commits as i64 * MINUTE;
        let mut authored: Vec<Timestamp> = (0..commits)
            .map(|_| {
                self.rng
                    .between(earliest, latest.max(earliest + 1))
                    .min(latest)
            })
            .collect();
        authored.sort_unstable();
        let mut parent = self.changes[fork.change].sha.clone();
        let mut parent_time = fork.time;
        let mut branch_tip = fork.change;
        let topic = self.rng.pick(self.topics);
        for (k, &author_time) in authored.iter().enumerate() {
            let committer_time = if rebased {
                time - (commits - k) as i64 * 30
            } else {
                author_time
            }
            .max(parent_time);
            let template = self.rng.pick(SUBJECTS);
            let sha = self.rng.sha();
            branch_tip = self.push_change(Change {
                sha: sha.clone(),
                parents: vec![parent],
                author_time: author_time.min(committer_time),
                committer_time,
                author_name: author.name.clone(),
                author_email: author.email.clone(),
                subject: format!("{}: {}", self.service, template.replace("{}", topic)),
                reverts: None,
            });
            parent = sha;
            parent_time = committer_time;
        }
        self.pull_requests += 1;
        let merger = self.author();
        let first_name = author
            .name
            .split(' ')
            .next()
            .unwrap_or_default()
            .to_ascii_lowercase();
        let slug: String = topic
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_lowercase()
                } else {
                    '-'
                }
            })
            .collect();
        let sha = self.rng.sha();
        let merge = self.push_change(Change {
            sha,
            parents: vec![self.changes[tip.change].sha.clone(), parent],
            author_time: time,
            committer_time: time.max(parent_time),
            author_name: merger.name,
            author_email: merger.email,
            subject: format!(
                "Merge pull request #{} from {REPOSITORY_OWNER}/{first_name}/{slug}",
                self.pull_requests
            ),
            reverts: None,
        });
        self.main.push(MainCommit {
            time: time.max(parent_time),
            change: merge,
            newest_own: branch_tip,
        });
    }

    fn deploy_duration(&mut self) -> i64 {
        let minutes = self.deploy_minutes as f64 * (0.7 + 0.8 * self.rng.unit());
        (minutes * MINUTE as f64) as i64
    }

    /// Minutes until a bad deployment is remediated, at this moment's pace.
    fn recovery_delay(&mut self, pace: &Pace) -> i64 {
        let minutes = pace.recovery_minutes * (0.4 + 1.2 * self.rng.unit());
        ((minutes * MINUTE as f64) as i64).max(5 * MINUTE)
    }

    fn pace_at(&self, time: Timestamp) -> Pace {
        let days_before_end = (self.end - time) as f64 / SECONDS_PER_DAY as f64;
        self.trajectory.pace(days_before_end)
    }

    /// A deployment of main-line commit `main` to `environment`; `None` if it would not
    /// finish before the end of the history.
    fn deployment(
        &mut self,
        environment: &str,
        started: Timestamp,
        main: usize,
        status: DeploymentStatus,
        kind: DeploymentKind,
    ) -> Option<Deployment> {
        let finished = started + self.deploy_duration();
        if finished >= self.end {
            return None;
        }
        let id = if environment == PRODUCTION {
            self.production_count += 1;
            format!("{}-{:04}", self.service, self.production_count)
        } else {
            self.staging_count += 1;
            format!("{}-{environment}-{:04}", self.service, self.staging_count)
        };
        let deployment = Deployment {
            source: Source::Demo,
            id,
            service: self.service.to_string(),
            environment: environment.to_string(),
            sha: self.changes[self.main[main].change].sha.clone(),
            started_at: Some(started),
            finished_at: Some(finished),
            status,
            kind,
        };
        self.deployments.push(deployment.clone());
        Some(deployment)
    }

    /// A remediation deployment (rollback, fix): it goes out and cannot fail itself.
    fn remediate(&mut self, time: Timestamp, main: usize, kind: DeploymentKind) {
        if self
            .deployment(PRODUCTION, time, main, DeploymentStatus::Success, kind)
            .is_some()
        {
            self.last_released = Some(main);
            self.last_good = Some(main);
        }
    }

    /// A production deployment of the main line's tip by the pipeline.
    fn release(&mut self, time: Timestamp) {
        let Some(main) = self.main.len().checked_sub(1) else {
            return;
        };
        self.release_commit(time, main);
    }

    /// A production deployment of main-line commit `main` by the pipeline: mostly fine; bad
    /// ones get their failure, its remediation and maybe an incident scheduled.
    fn release_commit(&mut self, time: Timestamp, main: usize) {
        let pace = self.pace_at(time);
        // The first deployment is never bad: there would be nothing to roll back to.
        let failure = (self.last_good.is_some() && self.rng.chance(pace.failure_rate)).then(|| {
            match self.rng.below(100) {
                0..25 => Failure::Status,
                25..50 => Failure::RolledBack,
                50..70 => Failure::Reverted,
                70..88 => Failure::Hotfixed,
                _ => Failure::IncidentOnly,
            }
        });
        let status = if failure == Some(Failure::Status) {
            DeploymentStatus::Failure
        } else {
            DeploymentStatus::Success
        };
        let Some(deployment) =
            self.deployment(PRODUCTION, time, main, status, DeploymentKind::Normal)
        else {
            return;
        };
        self.last_released = Some(main);
        let finished = deployment.finished_at.unwrap_or(time);
        // What production runs afterwards: a failed deployment left the previous one in
        // place, and a rolled-back one goes back to it; the others are fixed forward.
        if !matches!(failure, Some(Failure::Status | Failure::RolledBack)) {
            self.last_good = Some(main);
        }
        let Some(failure) = failure else {
            return;
        };
        let delay = self.recovery_delay(&pace);
        let remediated_at = match failure {
            Failure::Status => {
                let at = finished + self.rng.between(3 * MINUTE, 20 * MINUTE);
                self.schedule(at, Happening::Rollback);
                at
            }
            Failure::RolledBack => {
                let at = finished + delay;
                self.schedule(at, Happening::Rollback);
                at
            }
            Failure::Reverted => {
                let target = self.main[main].newest_own;
                let committed = finished + delay * 2 / 3;
                let deploy_at = finished + delay;
                self.schedule(committed, Happening::Revert { target, deploy_at });
                deploy_at
            }
            Failure::Hotfixed => {
                let committed = finished + delay * 2 / 3;
                let deploy_at = finished + delay;
                self.schedule(committed, Happening::Hotfix { deploy_at });
                deploy_at
            }
            Failure::IncidentOnly => finished + delay,
        };
        // No other deployment while the failure is being dealt with, so a rollback or hotfix
        // directly follows what it remediates.
        self.scheduled_deployments_blocked_until = remediated_at + 2 * CALM;
        let incident_chance = match failure {
            Failure::Status => 0.0,
            Failure::RolledBack => 0.5,
            Failure::Reverted => 0.4,
            Failure::Hotfixed => 0.6,
            Failure::IncidentOnly => 1.0,
        };
        if self.rng.chance(incident_chance) {
            self.incident(&deployment.id, finished, remediated_at);
        }
    }

    /// An incident started shortly after a bad deployment finished (before its remediation,
    /// so the latest-before rule links it to the right deployment), resolved soon after the
    /// remediation.
    fn incident(&mut self, cause: &str, finished: Timestamp, remediated_at: Timestamp) {
        let window = (remediated_at - finished) / 2;
        let started = finished
            + self
                .rng
                .between(2 * MINUTE, (45 * MINUTE).min(window).max(3 * MINUTE));
        if started >= self.end {
            return;
        }
        let acknowledged = started + self.rng.between(2 * MINUTE, 20 * MINUTE);
        let resolved = remediated_at.max(started) + self.rng.between(5 * MINUTE, 30 * MINUTE);
        let topic = self.rng.pick(self.topics);
        let title = self.rng.pick(INCIDENT_TITLES).replace("{}", topic);
        let severity = match self.rng.below(100) {
            0..5 => "sev1",
            5..30 => "sev2",
            30..80 => "sev3",
            _ => "sev4",
        };
        // Most incidents are linked by time; some name their cause, as a postmortem would.
        let caused_by = self.rng.chance(0.35).then(|| cause.to_string());
        self.incidents.push(Incident {
            source: Source::Demo,
            id: format!("{}-inc-{:04}", self.service, self.incidents.len() + 1),
            service: Some(self.service.to_string()),
            title: format!("{}: {title}", self.service),
            severity: Some(severity.to_string()),
            started_at: started,
            acknowledged_at: (acknowledged < self.end).then_some(acknowledged),
            resolved_at: (resolved < self.end).then_some(resolved),
            caused_by,
            url: None,
        });
    }

    /// Schedules every day's merges and pipeline runs: weekdays in office hours, weekends
    /// quiet.
    fn plan(&mut self) {
        let first_day = self.start.div_euclid(SECONDS_PER_DAY);
        let last_day = self.end.div_euclid(SECONDS_PER_DAY);
        for day in first_day..=last_day {
            let midnight = day * SECONDS_PER_DAY;
            let pace = self.pace_at(midnight + SECONDS_PER_DAY / 2);
            // 1970-01-01 was a Thursday: weekday 0 is Monday.
            let weekend = (day + 3).rem_euclid(7) >= 5;
            let share = if weekend { pace.weekend_share } else { 1.0 };
            let integrations = self
                .rng
                .poisson(pace.integrations_per_weekday * share * self.tempo);
            for _ in 0..integrations {
                // Mostly office hours, some evening work.
                let offset = if self.rng.chance(0.9) {
                    self.rng
                        .between(8 * SECONDS_PER_HOUR, 18 * SECONDS_PER_HOUR)
                } else {
                    self.rng
                        .between(18 * SECONDS_PER_HOUR, 23 * SECONDS_PER_HOUR)
                };
                self.plan_at(midnight + offset, Happening::Integrate);
            }
            let deployments = self
                .rng
                .poisson(pace.deployments_per_weekday * share * self.tempo);
            for _ in 0..deployments {
                let offset = self
                    .rng
                    .between(9 * SECONDS_PER_HOUR, 17 * SECONDS_PER_HOUR + 30 * MINUTE);
                self.plan_at(midnight + offset, Happening::Deploy);
            }
        }
    }

    fn plan_at(&mut self, time: Timestamp, happening: Happening) {
        // The first hour belongs to the initial commit.
        if time > self.start + SECONDS_PER_HOUR && time < self.end {
            self.schedule(time, happening);
        }
    }

    fn run(&mut self) {
        let author = self.author();
        let sha = self.rng.sha();
        let root = self.push_change(Change {
            sha,
            parents: Vec::new(),
            author_time: self.start,
            committer_time: self.start,
            author_name: author.name,
            author_email: author.email,
            subject: format!("{}: initial commit", self.service),
            reverts: None,
        });
        self.main.push(MainCommit {
            time: self.start,
            change: root,
            newest_own: root,
        });
        self.plan();
        while let Some(Reverse((time, _, happening))) = self.queue.pop() {
            if time >= self.end {
                continue;
            }
            match happening {
                Happening::Integrate => {
                    let pace = self.pace_at(time);
                    if self.rng.chance(0.15) {
                        let subject = self.subject();
                        self.commit_on_main(time, subject, None);
                    } else {
                        self.merge_pull_request(time, pace.branch_hours);
                    }
                }
                Happening::Deploy => self.pipeline(time),
                Happening::Promote { main } => self.release_commit(time, main),
                Happening::Rollback => {
                    if let Some(good) = self.last_good {
                        self.remediate(time, good, DeploymentKind::Rollback);
                    }
                }
                Happening::Revert { target, deploy_at } => {
                    let reverted = &self.changes[target];
                    let subject = format!("Revert \"{}\"", reverted.subject);
                    let sha = reverted.sha.clone();
                    self.commit_on_main(time, subject, Some(sha));
                    self.schedule(deploy_at, Happening::FixDeploy { hotfix: false });
                }
                Happening::Hotfix { deploy_at } => {
                    let topic = self.rng.pick(self.topics);
                    let subject = format!("{}: hotfix regression in {topic}", self.service);
                    self.commit_on_main(time, subject, None);
                    self.schedule(deploy_at, Happening::FixDeploy { hotfix: true });
                }
                Happening::FixDeploy { hotfix } => {
                    let kind = if hotfix {
                        DeploymentKind::Hotfix
                    } else {
                        DeploymentKind::Normal
                    };
                    if let Some(tip) = self.main.len().checked_sub(1) {
                        self.remediate(time, tip, kind);
                    }
                }
            }
        }
    }

    /// A scheduled pipeline run: nothing when production is being remediated or there is
    /// nothing new; else staging first where there is one, then production.
    fn pipeline(&mut self, time: Timestamp) {
        let Some(tip) = self.main.len().checked_sub(1) else {
            return;
        };
        if time < self.scheduled_deployments_blocked_until || self.last_released == Some(tip) {
            return;
        }
        if !self.staged {
            self.release(time);
            return;
        }
        let broken = self.rng.chance(0.04);
        let status = if broken {
            DeploymentStatus::Failure
        } else {
            DeploymentStatus::Success
        };
        let Some(staged) = self.deployment(STAGING, time, tip, status, DeploymentKind::Normal)
        else {
            return;
        };
        let finished = staged.finished_at.unwrap_or(time);
        if broken {
            // The pipeline stops; the next run tries again.
            self.scheduled_deployments_blocked_until = finished;
            return;
        }
        let soak = self.rng.between(15 * MINUTE, 60 * MINUTE);
        self.schedule(finished + soak, Happening::Promote { main: tip });
        self.scheduled_deployments_blocked_until = finished + soak + CALM;
    }
}

/// How long the pipeline waits after a promotion (twice that after a remediation) before it
/// deploys again.
const CALM: i64 = SECONDS_PER_HOUR;

/// A TOML basic string: `"` and `\` escaped, control characters as `\uXXXX`.
fn toml_string(text: &str) -> String {
    let mut quoted = String::with_capacity(text.len() + 2);
    quoted.push('"');
    for c in text.chars() {
        match c {
            '"' => quoted.push_str("\\\""),
            '\\' => quoted.push_str("\\\\"),
            c if c.is_control() => quoted.push_str(&format!("\\u{:04X}", u32::from(c))),
            c => quoted.push(c),
        }
    }
    quoted.push('"');
    quoted
}

/// A TOML key: bare when it may be, else quoted.
fn toml_key(text: &str) -> String {
    let bare = !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if bare {
        text.to_string()
    } else {
        toml_string(text)
    }
}

impl DemoOrganisation {
    /// The organisation of `seed`, its history ending just before `end`.
    pub fn generate(seed: u64, end: Timestamp) -> Self {
        let start = end - HISTORY_DAYS * SECONDS_PER_DAY;
        let mut tribes = Vec::new();
        let mut services = Vec::new();
        let mut index = 0u64;
        for (tribe_index, (tribe, squads)) in LAYOUT.iter().enumerate() {
            let mut demo_squads = Vec::new();
            for (squad_index, (squad, trajectory, names)) in squads.iter().enumerate() {
                let squad_seed = seed ^ (((tribe_index * 16 + squad_index) as u64 + 1) << 40);
                let authors = squad_authors(&mut SplitMix64::new(squad_seed));
                for name in names.iter() {
                    index += 1;
                    // Each service has a generator of its own: adding a service elsewhere
                    // leaves the others' histories as they were. The end is mixed in so that
                    // demos of different ends share no commit.
                    let mut rng = SplitMix64::new(
                        seed ^ index.wrapping_mul(0xA24B_AED4_963E_E407)
                            ^ (end as u64).rotate_left(23),
                    );
                    let (fastest, slowest) = trajectory.deploy_minutes();
                    let tempo = 0.75 + 0.5 * rng.unit();
                    let deploy_minutes = rng.between(fastest, slowest + 1);
                    let mut generator = ServiceGenerator {
                        service: name,
                        trajectory: *trajectory,
                        staged: STAGED_SERVICES.contains(name),
                        authors: &authors,
                        topics: topics(name),
                        rng,
                        start,
                        end,
                        tempo,
                        deploy_minutes,
                        changes: Vec::new(),
                        main: Vec::new(),
                        deployments: Vec::new(),
                        incidents: Vec::new(),
                        queue: BinaryHeap::new(),
                        sequence: 0,
                        pull_requests: 0,
                        production_count: 0,
                        staging_count: 0,
                        last_released: None,
                        last_good: None,
                        scheduled_deployments_blocked_until: start,
                    };
                    generator.run();
                    services.push(DemoService {
                        name: name.to_string(),
                        squad: squad.to_string(),
                        tribe: tribe.to_string(),
                        trajectory: *trajectory,
                        repository: format!("{REPOSITORY_OWNER}/{name}"),
                        changes: generator.changes,
                        deployments: generator.deployments,
                        incidents: generator.incidents,
                    });
                }
                demo_squads.push(DemoSquad {
                    name: squad.to_string(),
                    trajectory: *trajectory,
                    services: names.iter().map(|name| name.to_string()).collect(),
                });
            }
            tribes.push(DemoTribe {
                name: tribe.to_string(),
                squads: demo_squads,
            });
        }
        Self {
            seed,
            end,
            tribes,
            services,
        }
    }

    /// Is `stored` this organisation (same seed, same end)?
    pub fn is(&self, stored: &StoredDemo) -> bool {
        self.end == stored.end
            && self
                .services
                .first()
                .and_then(|service| service.changes.first())
                .is_some_and(|root| root.sha == stored.root)
    }

    pub fn counts(&self) -> DemoCounts {
        DemoCounts {
            tribes: self.tribes.len(),
            squads: self.tribes.iter().map(|tribe| tribe.squads.len()).sum(),
            services: self.services.len(),
            changes: self.services.iter().map(|s| s.changes.len()).sum(),
            deployments: self.services.iter().map(|s| s.deployments.len()).sum(),
            incidents: self.services.iter().map(|s| s.incidents.len()).sum(),
        }
    }

    /// The ownership configuration for `loopwise serve --config`: reads without a token (a
    /// demo is for looking at) and one `[teams.NAME]` table per squad with its tribe and
    /// services.
    pub fn ownership_toml(&self) -> String {
        let mut text = format!(
            "# The demo organisation's owners, written by `loopwise demo` (seed {}).\n\
             version = 1\n\
             public_reads = true\n\n\
             [teams]\n",
            self.seed
        );
        for tribe in &self.tribes {
            for squad in &tribe.squads {
                let services: Vec<String> = squad
                    .services
                    .iter()
                    .map(|name| toml_string(name))
                    .collect();
                text.push_str(&format!(
                    "\n[teams.{}]\ntribe = {}\nservices = [{}]\n",
                    toml_key(&squad.name),
                    toml_string(&tribe.name),
                    services.join(", ")
                ));
            }
        }
        text
    }

    /// Writes the organisation through the store's ordinary write paths; see
    /// [`DemoOrganisation::write_to_reporting`].
    pub fn write_to(&self, store: &dyn Store) -> Result<DemoCounts, StoreError> {
        self.write_to_reporting(store, &mut |_, _| {})
    }

    /// Writes each service's history (one git import transaction), its deployments and then
    /// every incident, calling `progress(services written, services)` after each service.
    /// Writing again stores nothing twice: commits are keyed by (repository, sha), deployments
    /// and incidents by (source, id), and each service's demo deployments are replaced as a
    /// whole, so a demo of another seed or end leaves no deployment of its own behind.
    pub fn write_to_reporting(
        &self,
        store: &dyn Store,
        progress: &mut dyn FnMut(usize, usize),
    ) -> Result<DemoCounts, StoreError> {
        for (written, service) in self.services.iter().enumerate() {
            let mut messages = service
                .changes
                .chunks(CHANGES_PER_MESSAGE)
                .map(|chunk| GitImportMessage::Changes(Arc::new(chunk.to_vec())))
                .chain(std::iter::once(GitImportMessage::Commit {
                    tags: Vec::new(),
                    path_touches: Vec::new(),
                }));
            if store
                .import_git_stream(&service.repository, &mut messages)?
                .is_none()
            {
                return Err(StoreError::Database(format!(
                    "the history of {} was not committed",
                    service.repository
                )));
            }
            // One call per service: the replacement scope needs all of its deployments at once.
            let scope = DeploymentScope {
                source: Source::Demo,
                service: service.name.clone(),
            };
            store.upsert_deployments(&service.deployments, Some(&scope))?;
            progress(written + 1, self.services.len());
        }
        let incidents: Vec<Event> = self
            .services
            .iter()
            .flat_map(|service| service.incidents.iter().cloned().map(Event::Incident))
            .collect();
        for batch in incidents.chunks(INCIDENTS_PER_BATCH) {
            store.apply_events(batch)?;
        }
        Ok(self.counts())
    }
}

/// A demo found in a store: enough to tell whether writing an organisation would be writing
/// the same one again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredDemo {
    /// The end it was generated for.
    pub end: Timestamp,
    /// The sha of its first repository's initial commit, which depends on the seed.
    pub root: String,
}

/// The demo `store` holds, if any: read from the first service's repository, whose initial
/// commit is dated exactly [`HISTORY_DAYS`] before the end (the earliest one, should the
/// repository hold several).
pub fn find_stored(store: &dyn Store) -> Result<Option<StoredDemo>, StoreError> {
    let Some(service) = LAYOUT
        .first()
        .and_then(|(_, squads)| squads.first())
        .and_then(|(_, _, services)| services.first())
    else {
        return Ok(None);
    };
    let Some(repository) = store.find_repository(&format!("{REPOSITORY_OWNER}/{service}"))? else {
        return Ok(None);
    };
    Ok(store
        .changes(repository)?
        .into_iter()
        .filter(|change| change.parents.is_empty())
        .min_by(|a, b| {
            a.committer_time
                .cmp(&b.committer_time)
                .then(a.sha.cmp(&b.sha))
        })
        .map(|root| StoredDemo {
            end: root.committer_time + HISTORY_DAYS * SECONDS_PER_DAY,
            root: root.sha,
        }))
}

/// The repositories a demo writes: `acme/<service>` for every service of the layout.
pub fn repository_locators() -> impl Iterator<Item = String> {
    LAYOUT
        .iter()
        .flat_map(|(_, squads)| squads.iter())
        .flat_map(|(_, _, services)| services.iter())
        .map(|service| format!("{REPOSITORY_OWNER}/{service}"))
}

/// What a store holds that no demo wrote, counted by kind. A demo writes only its own
/// repositories, deployments and incidents of [`Source::Demo`]; anything else is real data the
/// demo must not mix with.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ForeignRecords {
    pub repositories: usize,
    pub deployments: usize,
    pub incidents: usize,
    pub pull_requests: usize,
    pub flag_changes: usize,
}

impl ForeignRecords {
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// The non-zero counts as "1 deployment, 2 incidents", in the order of the fields.
    pub fn describe(&self) -> String {
        [
            (self.repositories, "repository", "repositories"),
            (self.deployments, "deployment", "deployments"),
            (self.incidents, "incident", "incidents"),
            (self.pull_requests, "pull request", "pull requests"),
            (self.flag_changes, "flag change", "flag changes"),
        ]
        .into_iter()
        .filter(|(count, _, _)| *count > 0)
        .map(|(count, one, many)| format!("{count} {}", if count == 1 { one } else { many }))
        .collect::<Vec<_>>()
        .join(", ")
    }
}

/// Counts what `store` holds from anything but a demo. Reads every repository locator,
/// incident, pull request and flag change, and the deployments' count: cheap next to writing
/// the demo, and every one of them is small beside the changes, which are not read.
pub fn foreign_records(store: &dyn Store) -> Result<ForeignRecords, StoreError> {
    let ours: HashSet<String> = repository_locators().collect();
    let demo_deployments = store
        .deployments(&DeploymentFilter {
            source: Some(Source::Demo),
            ..DeploymentFilter::default()
        })?
        .len();
    Ok(ForeignRecords {
        repositories: store
            .repositories()?
            .iter()
            .filter(|(_, locator)| !ours.contains(locator))
            .count(),
        deployments: store.counts()?.deployments.saturating_sub(demo_deployments),
        incidents: store
            .incidents(None)?
            .iter()
            .filter(|incident| incident.source != Source::Demo)
            .count(),
        pull_requests: store.pull_requests(None)?.len(),
        flag_changes: store.flag_changes(None)?.len(),
    })
}

/// A squad's developers: four to seven people.
fn squad_authors(rng: &mut SplitMix64) -> Vec<Author> {
    let size = 4 + rng.below(4);
    (0..size)
        .map(|_| {
            let first = rng.pick(FIRST_NAMES);
            let last = rng.pick(LAST_NAMES);
            Author {
                name: format!("{first} {last}"),
                email: format!(
                    "{}.{}@acme.example",
                    first.to_ascii_lowercase(),
                    last.to_ascii_lowercase()
                ),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use loopwise_core::benchmark::Benchmark;
    use loopwise_core::graph::CommitGraph;
    use loopwise_core::metrics::{
        ChainInput, DEFAULT_INCIDENT_LINK_WINDOW_SECONDS, analyze_chain, link_incidents,
    };
    use loopwise_core::rollup::{ChainName, Figures, GroupBy, LeaderboardBuilder};
    use loopwise_core::time::Window;
    use std::collections::{HashMap, HashSet};
    use std::sync::OnceLock;
    use std::time::Instant;

    /// 2026-12-01T00:00:00Z.
    const END: Timestamp = 1_796_083_200;
    const DAY: i64 = SECONDS_PER_DAY;

    /// Generated once for every test here: the full organisation is the thing under test.
    fn organisation() -> &'static DemoOrganisation {
        static ORGANISATION: OnceLock<DemoOrganisation> = OnceLock::new();
        ORGANISATION.get_or_init(|| {
            let started = Instant::now();
            let organisation = DemoOrganisation::generate(DEFAULT_SEED, END);
            eprintln!(
                "generated {:?} in {:.2} s",
                organisation.counts(),
                started.elapsed().as_secs_f64()
            );
            organisation
        })
    }

    /// Each squad's pooled production figures over `window`, as the leaderboard computes them.
    fn squad_figures(window: Window) -> HashMap<String, Figures> {
        let mut board = LeaderboardBuilder::new(window, GroupBy::Team);
        for service in &organisation().services {
            let graph = CommitGraph::from_changes(&service.changes);
            let deployments = service
                .deployments
                .iter()
                .filter(|d| d.environment == PRODUCTION)
                .cloned()
                .collect();
            let mut analysis = analyze_chain(ChainInput {
                graph: &graph,
                deployments,
                relevant: None,
                hotfix_commits: None,
            });
            link_incidents(
                &mut analysis,
                Some(&graph),
                &service.incidents,
                DEFAULT_INCIDENT_LINK_WINDOW_SECONDS,
            );
            let chain = ChainName {
                service: service.name.clone(),
                environment: PRODUCTION.to_string(),
            };
            board.add_chain(&service.squad, chain, &analysis);
        }
        board
            .finish(Benchmark::default_benchmark())
            .rows
            .into_iter()
            .map(|row| (row.group, row.figures))
            .collect()
    }

    fn window(from_days_before_end: i64, to_days_before_end: i64) -> Window {
        Window {
            since: END - from_days_before_end * DAY,
            until: END - to_days_before_end * DAY,
        }
    }

    fn rate(figures: &Figures) -> f64 {
        figures.change_failure_rate.rate.unwrap_or(f64::NAN)
    }

    fn lead_median(figures: &Figures) -> f64 {
        figures.lead_time.median_seconds.unwrap_or(f64::NAN)
    }

    #[test]
    fn the_same_seed_gives_the_same_organisation() {
        let again = DemoOrganisation::generate(DEFAULT_SEED, END);
        assert!(again == *organisation());
        let other = DemoOrganisation::generate(DEFAULT_SEED + 1, END);
        assert_ne!(
            other.services[0].changes[0].sha,
            again.services[0].changes[0].sha
        );
        assert_eq!(other.services[0].name, again.services[0].name);
    }

    #[test]
    fn the_organisation_has_a_realistic_shape_and_size() {
        let organisation = organisation();
        let counts = organisation.counts();
        assert!((3..=4).contains(&counts.tribes), "{counts:?}");
        for tribe in &organisation.tribes {
            assert!((2..=3).contains(&tribe.squads.len()), "{}", tribe.name);
            for squad in &tribe.squads {
                assert!((2..=4).contains(&squad.services.len()), "{}", squad.name);
            }
        }
        assert!((25..=40).contains(&counts.services), "{counts:?}");
        assert!((2_000..=20_000).contains(&counts.deployments), "{counts:?}");
        assert!((50_000..=150_000).contains(&counts.changes), "{counts:?}");
        assert!(counts.incidents >= 100, "{counts:?}");
        let names: HashSet<&str> = organisation
            .services
            .iter()
            .map(|s| s.name.as_str())
            .collect();
        assert_eq!(names.len(), counts.services, "service names are unique");
        assert!(
            names
                .iter()
                .any(|name| name.contains('\'') && name.contains('"') && name.contains('&')),
            "a name that needs escaping"
        );
        let staged: Vec<&str> = organisation
            .services
            .iter()
            .filter(|s| s.deployments.iter().any(|d| d.environment == STAGING))
            .map(|s| s.name.as_str())
            .collect();
        assert!((2..=6).contains(&staged.len()), "{staged:?}");
        for service in &organisation.services {
            assert_eq!(service.repository, format!("acme/{}", service.name));
            assert!(!service.name.contains('/'), "{}", service.name);
        }
    }

    #[test]
    fn every_history_is_one_connected_graph_in_time_order() {
        for service in &organisation().services {
            let mut known: HashMap<&str, &Change> = HashMap::new();
            for change in &service.changes {
                assert_eq!(change.sha.len(), 40, "{}", change.sha);
                assert!(
                    change
                        .sha
                        .bytes()
                        .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
                );
                assert!(change.author_time <= change.committer_time, "{change:?}");
                assert!(change.committer_time < END, "{change:?}");
                for parent in &change.parents {
                    let parent = known
                        .get(parent.as_str())
                        .unwrap_or_else(|| panic!("{}: parent {parent} comes first", service.name));
                    assert!(parent.committer_time <= change.committer_time, "{change:?}");
                }
                assert!(known.insert(&change.sha, change).is_none(), "unique shas");
            }
            let roots = service
                .changes
                .iter()
                .filter(|c| c.parents.is_empty())
                .count();
            assert_eq!(roots, 1, "{}", service.name);
            // Everything is reachable from the newest main-line commit: every branch was merged.
            let mut reached: HashSet<&str> = HashSet::new();
            let mut stack = vec![
                service
                    .changes
                    .last()
                    .map(|c| c.sha.as_str())
                    .unwrap_or_default(),
            ];
            while let Some(sha) = stack.pop() {
                if reached.insert(sha) {
                    stack.extend(known[sha].parents.iter().map(String::as_str));
                }
            }
            assert_eq!(reached.len(), service.changes.len(), "{}", service.name);
            let merges = service.changes.iter().filter(|c| c.is_merge()).count();
            assert!(
                merges * 5 > service.changes.len(),
                "{}: feature branches",
                service.name
            );
            for change in &service.changes {
                if let Some(reverted) = &change.reverts {
                    let target = known[reverted.as_str()];
                    assert!(target.committer_time <= change.committer_time);
                    assert_eq!(change.subject, format!("Revert \"{}\"", target.subject));
                }
            }
        }
        let reverts: usize = organisation()
            .services
            .iter()
            .map(|s| s.changes.iter().filter(|c| c.reverts.is_some()).count())
            .sum();
        assert!(reverts >= 50, "{reverts} reverts");
    }

    #[test]
    fn deployments_ship_commits_of_their_repository() {
        let mut kinds = HashMap::new();
        let mut statuses = HashMap::new();
        for service in &organisation().services {
            let shas: HashSet<&str> = service.changes.iter().map(|c| c.sha.as_str()).collect();
            let mut ids = HashSet::new();
            for deployment in &service.deployments {
                assert!(shas.contains(deployment.sha.as_str()), "{deployment:?}");
                assert!(ids.insert(deployment.id.as_str()), "{deployment:?}");
                assert_eq!(deployment.source, Source::Demo);
                assert_eq!(deployment.service, service.name);
                assert!([PRODUCTION, STAGING].contains(&deployment.environment.as_str()));
                let (Some(started), Some(finished)) =
                    (deployment.started_at, deployment.finished_at)
                else {
                    panic!("{deployment:?} has both times");
                };
                assert!(started < finished && finished < END, "{deployment:?}");
                assert!(finished - started <= 2 * SECONDS_PER_HOUR, "{deployment:?}");
                *kinds.entry(deployment.kind).or_insert(0) += 1;
                *statuses.entry(deployment.status).or_insert(0) += 1;
            }
            assert!(
                service.deployments.first().is_some_and(|d| d.id
                    == format!("{}-0001", service.name)
                    || d.environment == STAGING),
                "{}",
                service.name
            );
            for incident in &service.incidents {
                assert_eq!(incident.service.as_deref(), Some(service.name.as_str()));
                assert!(
                    incident
                        .acknowledged_at
                        .is_none_or(|t| t >= incident.started_at)
                );
                assert!(
                    incident
                        .resolved_at
                        .is_none_or(|t| t >= incident.started_at)
                );
                if let Some(cause) = &incident.caused_by {
                    assert!(ids.contains(cause.as_str()), "{incident:?}");
                }
            }
        }
        eprintln!("kinds {kinds:?}, statuses {statuses:?}");
        assert!(kinds[&DeploymentKind::Rollback] >= 20 && kinds[&DeploymentKind::Hotfix] >= 20);
        let failed = statuses[&DeploymentStatus::Failure];
        assert!(
            failed * 10 < statuses[&DeploymentStatus::Success],
            "mostly successes"
        );
        let incidents: Vec<&Incident> = organisation()
            .services
            .iter()
            .flat_map(|s| &s.incidents)
            .collect();
        let explicit = incidents.iter().filter(|i| i.caused_by.is_some()).count();
        assert!(
            explicit > 0 && explicit * 2 < incidents.len(),
            "most are linked by time"
        );
    }

    #[test]
    fn squads_perform_differently_and_change_over_time() {
        let last_90 = squad_figures(window(90, 0));
        let previous_90 = squad_figures(window(180, 90));
        let first_90 = squad_figures(window(HISTORY_DAYS, HISTORY_DAYS - 90));
        for (name, figures) in &last_90 {
            eprintln!(
                "{name:16} last 90 d: {:5.1}/week, lead median {:8.1} h, CFR {:.3}; before: {:5.1}/week, CFR {:.3}",
                figures.deployments.per_week,
                lead_median(figures) / 3_600.0,
                rate(figures),
                previous_90[name].deployments.per_week,
                rate(&previous_90[name]),
            );
        }
        let (elite, low) = (&last_90["payments"], &last_90["data"]);
        assert!(elite.deployments.per_week > 5.0 * low.deployments.per_week);
        assert!(lead_median(elite) < DAY as f64, "elite lead time in hours");
        assert!(
            lead_median(low) > 7.0 * DAY as f64,
            "low lead time in weeks"
        );
        assert!(rate(elite) < rate(low));

        // Speed up, stability down.
        let (now, before) = (&last_90["checkout"], &previous_90["checkout"]);
        assert!(now.deployments.per_week > before.deployments.per_week);
        assert!(
            rate(now) > rate(before) + 0.05,
            "{} vs {}",
            rate(now),
            rate(before)
        );

        // Better on every count.
        let (now, then) = (&last_90["content"], &first_90["content"]);
        assert!(now.deployments.per_week > 3.0 * then.deployments.per_week);
        assert!(rate(now) < rate(then));
        assert!(lead_median(now) < lead_median(then));
    }

    #[test]
    fn the_ownership_config_names_every_service_once_and_escapes_names() {
        let organisation = organisation();
        let toml = organisation.ownership_toml();
        let first_table = toml.find('[').unwrap_or_default();
        assert!(
            toml[..first_table].contains("public_reads = true\n"),
            "{toml}"
        );
        assert!(toml.contains("[teams.payments]\ntribe = \"commerce\"\nservices = [\"payment-gateway\", \"card-vault\", \"refund-service\"]\n"), "{toml}");
        assert!(toml.contains(r#""o'reilly \"books\" & co""#), "{toml}");
        for service in &organisation.services {
            assert_eq!(
                toml.matches(&toml_string(&service.name)).count(),
                1,
                "{}",
                service.name
            );
        }
        assert_eq!(toml_key("customer-care"), "customer-care");
        assert_eq!(toml_key("a b"), "\"a b\"");
        assert_eq!(toml_string("tab\there \\"), "\"tab\\u0009here \\\\\"");
    }

    #[test]
    fn writing_twice_stores_everything_once() {
        let organisation = organisation();
        let store = loopwise_store_sqlite::SqliteStore::open_in_memory().expect("open");
        let started = Instant::now();
        let mut reported = 0;
        let counts = organisation
            .write_to_reporting(&store, &mut |written, total| {
                assert_eq!(total, organisation.services.len());
                reported = written;
            })
            .expect("write");
        eprintln!(
            "wrote {counts:?} in {:.2} s",
            started.elapsed().as_secs_f64()
        );
        assert_eq!(reported, organisation.services.len());
        assert_eq!(counts, organisation.counts());
        let check = |store: &loopwise_store_sqlite::SqliteStore| {
            let stored = store.counts().expect("counts");
            assert_eq!(stored.repositories, counts.services);
            assert_eq!(stored.changes, counts.changes);
            assert_eq!(stored.deployments, counts.deployments);
            assert_eq!(
                store.incidents(None).expect("incidents").len(),
                counts.incidents
            );
        };
        check(&store);
        let versions = store.write_versions().expect("versions");
        let started = Instant::now();
        organisation.write_to(&store).expect("write again");
        eprintln!("wrote again in {:.2} s", started.elapsed().as_secs_f64());
        check(&store);
        assert_eq!(
            store.write_versions().expect("versions"),
            versions,
            "nothing changed"
        );

        let stored = find_stored(&store).expect("read").expect("a demo");
        assert_eq!(stored.end, END);
        assert!(organisation.is(&stored));
        let other_seed = DemoOrganisation::generate(DEFAULT_SEED + 1, END);
        assert!(!other_seed.is(&stored));
        let other_end = DemoOrganisation::generate(DEFAULT_SEED, END - DAY);
        assert!(!other_end.is(&stored));
        assert_ne!(
            other_end.services[0].changes[0].sha, organisation.services[0].changes[0].sha,
            "demos of different ends share no commit"
        );
        let empty = loopwise_store_sqlite::SqliteStore::open_in_memory().expect("open");
        assert_eq!(find_stored(&empty).expect("read"), None);
        assert_eq!(
            foreign_records(&empty).expect("read"),
            ForeignRecords::default()
        );
    }

    #[test]
    fn everything_but_the_demo_counts_as_foreign() {
        let organisation = organisation();
        let locators: HashSet<String> = repository_locators().collect();
        let written: HashSet<String> = organisation
            .services
            .iter()
            .map(|service| service.repository.clone())
            .collect();
        assert_eq!(locators, written);

        let store = loopwise_store_sqlite::SqliteStore::open_in_memory().expect("open");
        organisation.write_to(&store).expect("write");
        assert!(foreign_records(&store).expect("read").is_empty());

        // One record of each foreign kind beside the demo: a git import of another
        // repository, a deployment and an incident from the API.
        let mut sha_source = SplitMix64::new(99);
        let change = Change {
            sha: sha_source.sha(),
            parents: Vec::new(),
            author_name: "Someone".into(),
            author_email: "someone@example.com".into(),
            author_time: END - DAY,
            committer_time: END - DAY,
            subject: "initial".into(),
            reverts: None,
        };
        let mut messages = [
            GitImportMessage::Changes(Arc::new(vec![change])),
            GitImportMessage::Commit {
                tags: Vec::new(),
                path_touches: Vec::new(),
            },
        ]
        .into_iter();
        store
            .import_git_stream("team/real-service", &mut messages)
            .expect("import");
        let mut deployment = organisation.services[0].deployments[0].clone();
        deployment.source = Source::Api;
        deployment.id = "real-1".into();
        let mut incident = organisation
            .services
            .iter()
            .find_map(|service| service.incidents.first().cloned())
            .expect("an incident");
        incident.source = Source::Api;
        incident.id = "real-incident".into();
        store
            .apply_events(&[Event::Deployment(deployment), Event::Incident(incident)])
            .expect("events");
        let foreign = foreign_records(&store).expect("read");
        assert_eq!(
            foreign,
            ForeignRecords {
                repositories: 1,
                deployments: 1,
                incidents: 1,
                pull_requests: 0,
                flag_changes: 0,
            }
        );
        assert_eq!(foreign.describe(), "1 repository, 1 deployment, 1 incident");
        let many = ForeignRecords {
            repositories: 2,
            pull_requests: 3,
            ..ForeignRecords::default()
        };
        assert_eq!(many.describe(), "2 repositories, 3 pull requests");
    }
}
