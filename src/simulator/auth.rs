//! The gateway's signature check: the access key, `X-Date` within 15
//! minutes, the session token, the credential scope, the body hash, the
//! signed headers and the signature itself, refused with the gateway's
//! codes in that order.

use axum::http::{HeaderMap, Method, Uri};
use chrono::{NaiveDateTime, Utc};

use super::SimConfig;
use super::reply::{
    ApiError, INVALID_ACCESS_KEY, INVALID_TIMESTAMP, MISSING_AUTHENTICATION_TOKEN,
    MISSING_SIGNATURE, SIGNATURE_DOES_NOT_MATCH,
};
use super::request::query_pairs;
use crate::sign;

/// Checks the signature as the gateway does.
pub(super) fn authenticate(
    cfg: &SimConfig,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(), ApiError> {
    let auth = header_str(headers, "authorization")
        .ok_or_else(|| ApiError::new(MISSING_AUTHENTICATION_TOKEN, "The request is not signed"))?;
    let auth = sign::parse_authorization(auth)
        .ok_or_else(|| ApiError::new(MISSING_SIGNATURE, "The Authorization header is malformed"))?;
    if auth.access_key != cfg.access_key {
        return Err(ApiError::new(
            INVALID_ACCESS_KEY,
            "The access key does not exist",
        ));
    }
    let x_date = header_str(headers, "x-date").unwrap_or("");
    let when = NaiveDateTime::parse_from_str(x_date, "%Y%m%dT%H%M%SZ")
        .map_err(|_| ApiError::new(INVALID_TIMESTAMP, "X-Date is missing or malformed"))?;
    let skew = (Utc::now().timestamp() - when.and_utc().timestamp()).abs();
    if skew > 15 * 60 {
        return Err(ApiError::new(
            INVALID_TIMESTAMP,
            format!(
                "X-Date is {skew} s away from the server's time; at most 15 minutes are allowed"
            ),
        ));
    }
    if let Some(token) = &cfg.session_token
        && header_str(headers, "x-security-token") != Some(token.as_str())
    {
        return Err(ApiError::new(
            INVALID_ACCESS_KEY,
            "The security token is invalid",
        ));
    }
    let mismatch = |why: &str| {
        ApiError::new(
            SIGNATURE_DOES_NOT_MATCH,
            format!(
                "The request signature we calculated does not match the signature you provided ({why})"
            ),
        )
    };
    if auth.date != x_date[..8] || auth.region != cfg.region || auth.service != sign::SERVICE {
        return Err(mismatch("credential scope"));
    }
    let body_hash = sign::sha256_hex(body);
    if header_str(headers, "x-content-sha256") != Some(body_hash.as_str()) {
        return Err(mismatch("X-Content-Sha256"));
    }
    let host = header_str(headers, "host").unwrap_or("");
    let signed: Vec<(String, String)> = auth
        .signed_headers
        .iter()
        .filter(|h| h.as_str() != "host")
        .map(|h| (h.clone(), header_str(headers, h).unwrap_or("").to_string()))
        .collect();
    let query = query_pairs(uri);
    let parts = sign::RequestParts {
        method: method.as_str(),
        host,
        path: uri.path(),
        query: &query,
        headers: &signed,
        body_sha256: &body_hash,
    };
    let (_, signed_list) = sign::canonical_request(&parts);
    if signed_list != auth.signed_headers.join(";") {
        return Err(mismatch("signed headers"));
    }
    if sign::signature(&cfg.secret_key, &cfg.region, x_date, &parts) != auth.signature {
        return Err(mismatch("signature"));
    }
    Ok(())
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}
