//! GitLab deliveries: `X-Gitlab-Token` verification and parsing of the events that feed the
//! metrics.
