//! `loopwise token create|list|revoke`: API tokens. A new token is printed once, alone on
//! stdout; only its hash is stored.

use crate::cli::{TokenArgs, TokenCommand};
use crate::errors::bad_input;
use crate::store;
use anyhow::Context;
use std::io::{Read, Write};

fn now() -> i64 {
    jiff::Timestamp::now().as_second()
}

/// 32 bytes from the operating system's random source, as `lw_` + hex.
fn new_secret() -> anyhow::Result<String> {
    let mut bytes = [0u8; 32];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut file| file.read_exact(&mut bytes))
        .context("reading random bytes for the token")?;
    Ok(format!(
        "lw_{}",
        bytes.iter().map(|b| format!("{b:02x}")).collect::<String>()
    ))
}

pub fn run(args: TokenArgs) -> anyhow::Result<()> {
    let store = store::open(args.db.as_deref())?;
    let mut stdout = std::io::stdout().lock();
    match args.command {
        TokenCommand::Create { scope, name } => {
            let scope: loopwise_store::TokenScope = scope
                .parse()
                .map_err(|e: String| bad_input(format!("--scope: {e}")))?;
            let name = name.unwrap_or_else(|| format!("{}-{}", scope.as_str(), now()));
            if name.trim().is_empty() {
                return Err(bad_input("--name is empty"));
            }
            let secret = new_secret()?;
            store
                .create_token(
                    name.trim(),
                    scope,
                    &loopwise_server::auth::hash_token(&secret),
                    now(),
                )
                .map_err(|e| match e {
                    loopwise_store::StoreError::Conflict(message) => {
                        bad_input(format!("--name: {message}"))
                    }
                    other => other.into(),
                })?;
            writeln!(stdout, "{secret}")?;
        }
        TokenCommand::List => {
            writeln!(
                stdout,
                "{:<24} {:<7} {:<21} revoked",
                "name", "scope", "created"
            )?;
            for token in store.tokens()? {
                let revoked = token
                    .revoked_at
                    .map(loopwise_core::time::format_rfc3339)
                    .unwrap_or_else(|| "-".into());
                writeln!(
                    stdout,
                    "{:<24} {:<7} {:<21} {revoked}",
                    token.name,
                    token.scope.as_str(),
                    loopwise_core::time::format_rfc3339(token.created_at)
                )?;
            }
        }
        TokenCommand::Revoke { name } => {
            if !store.revoke_token(&name, now())? {
                return Err(bad_input(format!("no live token named {name:?}")));
            }
            writeln!(stdout, "revoked {name}")?;
        }
    }
    Ok(())
}
