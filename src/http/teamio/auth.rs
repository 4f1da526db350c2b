//! The bearer check of the import API (CONTRACT §12): `Authorization: Bearer <token>` (scheme in any case;
//! `X-API-Key` is not read here), a token of an active import client or a company's API key, and the
//! environment the route wants.

use axum::http::{HeaderMap, header};
use sqlx::PgPool;

use super::error::{TeamioError, TeamioResult};
use crate::domain::import_credentials::ImportEnvironment;
use crate::service::import_auth::{self, ImportCaller};

pub const TOKEN_REQUIRED: &str = "Access token is required";
pub const TOKEN_INVALID: &str = "Invalid or expired access token";
pub const WRONG_ENVIRONMENT: &str = "Wrong environment for this token";

/// The caller, if the bearer value is valid and of `environment`.
pub async fn authorize(db: &PgPool, headers: &HeaderMap, environment: ImportEnvironment) -> TeamioResult<ImportCaller> {
    let bearer = bearer_value(headers).ok_or_else(|| TeamioError::unauthorized(TOKEN_REQUIRED))?;
    let caller =
        import_auth::authenticate(db, bearer).await?.ok_or_else(|| TeamioError::unauthorized(TOKEN_INVALID))?;
    if caller.environment != environment {
        return Err(TeamioError::unauthorized(WRONG_ENVIRONMENT));
    }
    Ok(caller)
}

/// The token of `Authorization: Bearer <token>`; `None` when there is no such header, another scheme, or an
/// empty value (an unreadable value is passed on, to be found invalid).
fn bearer_value(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?;
    let value = std::str::from_utf8(value.as_bytes()).unwrap_or("\u{fffd} \u{fffd}");
    let (scheme, token) = value.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn with_authorization(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::AUTHORIZATION, HeaderValue::from_str(value).unwrap());
        headers
    }

    #[test]
    fn the_bearer_scheme_is_case_insensitive_and_required() {
        assert_eq!(bearer_value(&with_authorization("Bearer tit_x")), Some("tit_x"));
        assert_eq!(bearer_value(&with_authorization("bEaReR   tit_x ")), Some("tit_x"));
        assert_eq!(bearer_value(&with_authorization("Bearer ")), None);
        assert_eq!(bearer_value(&with_authorization("Basic dXNlcjpwYXNz")), None);
        assert_eq!(bearer_value(&HeaderMap::new()), None);
    }
}
