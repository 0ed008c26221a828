//! GitHub deliveries: `X-Hub-Signature-256` verification and parsing of the events that feed the
//! metrics.
