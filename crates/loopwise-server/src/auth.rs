//! Bearer tokens: only the SHA-256 of a token is stored, so a leaked database leaks no token.

use crate::AppState;
use crate::error::AppError;
use axum::http::HeaderMap;
use loopwise_store::{Token, TokenScope};
use sha2::{Digest, Sha256};

/// The stored form of a token secret: lowercase hex SHA-256.
pub fn hash_token(secret: &str) -> String {
    let digest = Sha256::digest(secret.trim().as_bytes());
    digest.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// The token named by the `Authorization: Bearer …` header, if it allows `scope`.
pub async fn require(
    state: &AppState,
    headers: &HeaderMap,
    scope: TokenScope,
) -> Result<Token, AppError> {
    let header = headers
        .get(axum::http::header::AUTHORIZATION)
        .ok_or_else(|| {
            AppError::unauthorized(format!(
                "a bearer token with the {} scope is required",
                scope.as_str()
            ))
        })?;
    let secret = header
        .to_str()
        .ok()
        .and_then(|value| {
            value
                .strip_prefix("Bearer ")
                .or_else(|| value.strip_prefix("bearer "))
        })
        .map(str::trim)
        .filter(|secret| !secret.is_empty())
        .ok_or_else(|| {
            AppError::unauthorized("the Authorization header must be `Bearer <token>`")
        })?;
    let hash = hash_token(secret);
    let store = state.store.clone();
    let token = tokio::task::spawn_blocking(move || store.token_by_hash(&hash))
        .await
        .map_err(AppError::internal)??
        .ok_or_else(|| AppError::unauthorized("the token is unknown or revoked"))?;
    if !token.scope.allows(scope) {
        return Err(AppError::forbidden(format!(
            "the token {:?} has the {} scope; this needs {}",
            token.name,
            token.scope.as_str(),
            scope.as_str()
        )));
    }
    Ok(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_sha256_hex() {
        // sha256("abc"), FIPS 180-2 test vector.
        assert_eq!(
            hash_token("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
