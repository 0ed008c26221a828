//! What the engine knows about the organisation besides the store: who owns which service
//! (service → team → tribe), where each service's history lives (repository, monorepo paths),
//! its hotfix patterns, which environments are production and how far back an incident looks
//! for its deployment. The binary builds it from the config file and flags; the engine only
//! reads it.

use loopwise_core::entities::ProductionEnvironments;
use loopwise_core::metrics::DEFAULT_INCIDENT_LINK_WINDOW_SECONDS;
use loopwise_core::rules::{HotfixRules, TagGlob};
use std::collections::{BTreeMap, HashMap};

/// Service → team and team → tribe.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ownership {
    teams: HashMap<String, String>,
    tribes: HashMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OwnershipError {
    #[error("service {service:?} is owned by both {first:?} and {second:?}")]
    ClaimedTwice {
        service: String,
        first: String,
        second: String,
    },
    #[error("team {team:?} is in both tribes {first:?} and {second:?}")]
    TwoTribes {
        team: String,
        first: String,
        second: String,
    },
    #[error("empty service or team name ({service:?} = {team:?})")]
    EmptyName { service: String, team: String },
    #[error("the tribe of team {team:?} is empty")]
    EmptyTribe { team: String },
}

impl Ownership {
    /// Ownership from (service, team) and (team, tribe) pairs; a service claimed by two teams,
    /// or a team in two tribes, is an error that names both.
    pub fn new(
        services: impl IntoIterator<Item = (String, String)>,
        tribes: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, OwnershipError> {
        let mut ownership = Self::default();
        for (service, team) in services {
            let (service, team) = (service.trim().to_string(), team.trim().to_string());
            if service.is_empty() || team.is_empty() {
                return Err(OwnershipError::EmptyName { service, team });
            }
            if let Some(first) = ownership.teams.get(&service)
                && *first != team
            {
                return Err(OwnershipError::ClaimedTwice {
                    service,
                    first: first.clone(),
                    second: team,
                });
            }
            ownership.teams.insert(service, team);
        }
        for (team, tribe) in tribes {
            let (team, tribe) = (team.trim().to_string(), tribe.trim().to_string());
            if team.is_empty() || tribe.is_empty() {
                return Err(OwnershipError::EmptyTribe { team });
            }
            if let Some(first) = ownership.tribes.get(&team)
                && *first != tribe
            {
                return Err(OwnershipError::TwoTribes {
                    team,
                    first: first.clone(),
                    second: tribe,
                });
            }
            ownership.tribes.insert(team, tribe);
        }
        Ok(ownership)
    }

    /// The team and tribe that own `service`, if the configuration says.
    pub fn owners(&self, service: &str) -> (Option<String>, Option<String>) {
        let team = self.teams.get(service).cloned();
        let tribe = team
            .as_ref()
            .and_then(|team| self.tribes.get(team))
            .cloned();
        (team, tribe)
    }

    /// Every configured service → team.
    pub fn teams(&self) -> &HashMap<String, String> {
        &self.teams
    }

    /// Every configured team → tribe.
    pub fn tribes(&self) -> &HashMap<String, String> {
        &self.tribes
    }

    pub fn has_team(&self, team: &str) -> bool {
        self.teams.values().any(|known| known == team) || self.tribes.contains_key(team)
    }

    pub fn has_tribe(&self, tribe: &str) -> bool {
        self.tribes.values().any(|known| known == tribe)
    }

    /// The configured teams, sorted.
    pub fn team_names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self
            .teams
            .values()
            .chain(self.tribes.keys())
            .map(String::as_str)
            .collect();
        names.sort_unstable();
        names.dedup();
        names
    }

    /// The configured tribes, sorted.
    pub fn tribe_names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self.tribes.values().map(String::as_str).collect();
        names.sort_unstable();
        names.dedup();
        names
    }
}

/// Where one service's history lives and how its deployments are read.
#[derive(Debug, Clone, Default)]
pub struct ServiceSettings {
    /// The locator of the repository whose history it ships (a path for `analyze`, `owner/name`
    /// for webhooks); default: the stored repository named like the service.
    pub repository: Option<String>,
    /// Monorepo paths: only commits whose change touches one of them belong to the service.
    /// Normalised (`services/api`), sorted, without repeats.
    pub paths: Vec<String>,
    /// The tags that are its production deployments, when they come from git (for provenance,
    /// and `analyze`'s default rule).
    pub deploy_tags: Option<TagGlob>,
    pub hotfix: HotfixRules,
}

impl ServiceSettings {
    /// The key under which path answers are stored for these paths (one per path set).
    pub fn paths_key(&self) -> Option<String> {
        (!self.paths.is_empty()).then(|| self.paths.join("\n"))
    }
}

/// Everything the engine needs besides the store and the query.
#[derive(Debug, Clone)]
pub struct Organisation {
    pub ownership: Ownership,
    /// Per service; a service not listed has the defaults.
    pub services: BTreeMap<String, ServiceSettings>,
    pub production: ProductionEnvironments,
    /// How long before an incident's start its deployment may have finished for the
    /// latest-before rule.
    pub incident_link_window_seconds: i64,
}

impl Default for Organisation {
    fn default() -> Self {
        Self {
            ownership: Ownership::default(),
            services: BTreeMap::new(),
            production: ProductionEnvironments::default(),
            incident_link_window_seconds: DEFAULT_INCIDENT_LINK_WINDOW_SECONDS,
        }
    }
}

static NO_SETTINGS: std::sync::LazyLock<ServiceSettings> =
    std::sync::LazyLock::new(ServiceSettings::default);

impl Organisation {
    /// The settings of `service` (the defaults when it has none).
    pub fn service(&self, service: &str) -> &ServiceSettings {
        self.services.get(service).unwrap_or(&NO_SETTINGS)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn owners_and_conflicts() {
        let ownership = Ownership::new(
            pairs(&[("checkout", "payments"), ("web", "storefront")]),
            pairs(&[("payments", "commerce")]),
        )
        .unwrap();
        assert_eq!(
            ownership.owners("checkout"),
            (Some("payments".into()), Some("commerce".into()))
        );
        assert_eq!(ownership.owners("web"), (Some("storefront".into()), None));
        assert_eq!(ownership.owners("nobody"), (None, None));
        assert!(ownership.has_team("storefront") && !ownership.has_team("commerce"));
        assert!(ownership.has_tribe("commerce"));
        let error = Ownership::new(
            pairs(&[("checkout", "payments"), ("checkout", "growth")]),
            [],
        )
        .unwrap_err();
        assert_eq!(
            error.to_string(),
            "service \"checkout\" is owned by both \"payments\" and \"growth\""
        );
    }
}
