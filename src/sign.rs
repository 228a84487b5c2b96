//! Volcengine signature V4 (`HMAC-SHA256`), as the official SDKs compute it.
//!
//! The client signs every request with it and the simulator verifies with the
//! same canonicalization, so the two can never drift apart silently: the unit
//! tests pin this module to the official test vectors byte for byte.

use chrono::{DateTime, Utc};
use hmac::{Hmac, KeyInit, Mac};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use sha2::{Digest, Sha256};

use crate::credentials::Credentials;

/// The only algorithm the gateway speaks.
pub const ALGORITHM: &str = "HMAC-SHA256";
/// The service name in the credential scope.
pub const SERVICE: &str = "rtc";

/// Everything but `A-Z a-z 0-9 - _ . ~` is percent-encoded in the query.
const QUERY_ENCODE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');
/// Paths keep their slashes.
const PATH_ENCODE: &AsciiSet = &QUERY_ENCODE.remove(b'/');

/// The parts of an HTTP request that take part in the signature.
#[derive(Debug, Clone)]
pub struct RequestParts<'a> {
    pub method: &'a str,
    /// The `Host` header as sent (a `:80`/`:443` port is dropped for signing).
    pub host: &'a str,
    pub path: &'a str,
    /// Decoded query parameters, in any order.
    pub query: &'a [(String, String)],
    /// Headers other than `Host`, any case; only the ones that are signed
    /// (`content-type`, `content-md5`, `x-*`) are used.
    pub headers: &'a [(String, String)],
    /// Lowercase hex SHA-256 of the body, as sent in `X-Content-Sha256`.
    pub body_sha256: &'a str,
}

/// Lowercase hex SHA-256 of `data`.
pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

fn hmac(key: &[u8], data: &[u8]) -> [u8; 32] {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(data);
    mac.finalize().into_bytes().into()
}

/// `kSigning`: the key derived from the secret, the date, region and service.
pub fn signing_key(secret_key: &str, date: &str, region: &str, service: &str) -> [u8; 32] {
    let k_date = hmac(secret_key.as_bytes(), date.as_bytes());
    let k_region = hmac(&k_date, region.as_bytes());
    let k_service = hmac(&k_region, service.as_bytes());
    hmac(&k_service, b"request")
}

fn host_for_signing(host: &str) -> &str {
    host.strip_suffix(":80")
        .or_else(|| host.strip_suffix(":443"))
        .unwrap_or(host)
}

fn is_signed_header(lower_name: &str) -> bool {
    matches!(lower_name, "content-type" | "content-md5" | "host") || lower_name.starts_with("x-")
}

/// The canonical request and the `SignedHeaders` list.
pub fn canonical_request(req: &RequestParts<'_>) -> (String, String) {
    let path = if req.path.is_empty() { "/" } else { req.path };
    let path = utf8_percent_encode(path, PATH_ENCODE).to_string();

    let mut query: Vec<(String, String)> = req
        .query
        .iter()
        .map(|(k, v)| {
            (
                utf8_percent_encode(k, QUERY_ENCODE).to_string(),
                utf8_percent_encode(v, QUERY_ENCODE).to_string(),
            )
        })
        .collect();
    query.sort();
    let query = query
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&");

    let mut headers: Vec<(String, String)> = req
        .headers
        .iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), v.trim().to_string()))
        .filter(|(k, _)| is_signed_header(k) && k != "host")
        .collect();
    headers.push(("host".into(), host_for_signing(req.host).to_string()));
    headers.sort();
    let canonical_headers: String = headers.iter().map(|(k, v)| format!("{k}:{v}\n")).collect();
    let signed_headers = headers
        .iter()
        .map(|(k, _)| k.as_str())
        .collect::<Vec<_>>()
        .join(";");

    let canonical = format!(
        "{}\n{}\n{}\n{}\n{}\n{}",
        req.method.to_ascii_uppercase(),
        path,
        query,
        canonical_headers,
        signed_headers,
        req.body_sha256
    );
    (canonical, signed_headers)
}

/// `YYYYMMDD/<region>/<service>/request`
pub fn credential_scope(date: &str, region: &str) -> String {
    format!("{date}/{region}/{SERVICE}/request")
}

/// The signature, lowercase hex, of a request dated `x_date` (`YYYYMMDD'T'HHMMSS'Z'`).
pub fn signature(secret_key: &str, region: &str, x_date: &str, req: &RequestParts<'_>) -> String {
    let date = &x_date[..x_date.len().min(8)];
    let (canonical, _) = canonical_request(req);
    let string_to_sign = format!(
        "{ALGORITHM}\n{x_date}\n{}\n{}",
        credential_scope(date, region),
        sha256_hex(canonical.as_bytes())
    );
    hex::encode(hmac(
        &signing_key(secret_key, date, region, SERVICE),
        string_to_sign.as_bytes(),
    ))
}

/// Formats a time as `X-Date` wants it.
pub fn x_date(now: DateTime<Utc>) -> String {
    now.format("%Y%m%dT%H%M%SZ").to_string()
}

/// The headers to add to a `POST` of `body` to `host` + `path?query`.
///
/// Returns (name, value) pairs: `Content-Type`, `X-Date`, `X-Content-Sha256`,
/// `X-Security-Token` (with STS credentials) and `Authorization`.
pub fn sign_post(
    creds: &Credentials,
    region: &str,
    host: &str,
    path: &str,
    query: &[(String, String)],
    body: &[u8],
    now: DateTime<Utc>,
) -> Vec<(&'static str, String)> {
    let x_date = x_date(now);
    let body_sha256 = sha256_hex(body);
    let mut headers: Vec<(&'static str, String)> = vec![
        ("Content-Type", "application/json".to_string()),
        ("X-Date", x_date.clone()),
        ("X-Content-Sha256", body_sha256.clone()),
    ];
    if let Some(token) = creds.session_token() {
        headers.push(("X-Security-Token", token.to_string()));
    }
    let owned: Vec<(String, String)> = headers
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect();
    let parts = RequestParts {
        method: "POST",
        host,
        path,
        query,
        headers: &owned,
        body_sha256: &body_sha256,
    };
    let (_, signed_headers) = canonical_request(&parts);
    let sig = signature(creds.secret_key(), region, &x_date, &parts);
    let scope = credential_scope(&x_date[..8], region);
    headers.push((
        "Authorization",
        format!(
            "{ALGORITHM} Credential={}/{scope}, SignedHeaders={signed_headers}, Signature={sig}",
            creds.access_key
        ),
    ));
    headers
}

/// A parsed `Authorization` header.
#[derive(Debug, PartialEq, Eq)]
pub struct Authorization {
    pub access_key: String,
    pub date: String,
    pub region: String,
    pub service: String,
    pub signed_headers: Vec<String>,
    pub signature: String,
}

/// Parses `HMAC-SHA256 Credential=AK/date/region/service/request, SignedHeaders=a;b, Signature=hex`.
pub fn parse_authorization(value: &str) -> Option<Authorization> {
    let rest = value.strip_prefix(ALGORITHM)?.trim_start();
    let mut credential = None;
    let mut signed = None;
    let mut sig = None;
    for part in rest.split(',') {
        let (k, v) = part.trim().split_once('=')?;
        match k {
            "Credential" => credential = Some(v),
            "SignedHeaders" => signed = Some(v),
            "Signature" => sig = Some(v),
            _ => {}
        }
    }
    let mut cred = credential?.split('/');
    let access_key = cred.next()?.to_string();
    let date = cred.next()?.to_string();
    let region = cred.next()?.to_string();
    let service = cred.next()?.to_string();
    if cred.next()? != "request" || cred.next().is_some() {
        return None;
    }
    Some(Authorization {
        access_key,
        date,
        region,
        service,
        signed_headers: signed?.split(';').map(str::to_string).collect(),
        signature: sig?.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    const QUALITY_BODY: &str = r#"{"AppId":"app1","StartTime":"2026-11-23T19:00:00+08:00","EndTime":"2026-11-23T19:10:00+08:00","Indicator":["stall_rate"]}"#;
    const OPERATION_BODY: &str = r#"{"AppId":"app1","StartTime":"2026-11-23T19:00:00+08:00","EndTime":"2026-11-23T19:10:00+08:00","Indicator":["online_user_count"]}"#;

    fn vector_time() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 23, 12, 0, 0).unwrap()
    }

    fn query(action: &str) -> Vec<(String, String)> {
        vec![
            ("Action".into(), action.into()),
            ("Version".into(), "2020-12-01".into()),
        ]
    }

    fn sign_vector(action: &str, body: &str, token: Option<&str>) -> Vec<(&'static str, String)> {
        let creds = Credentials::new("AKLTtest", "c2VjcmV0", token.map(str::to_string), "test");
        sign_post(
            &creds,
            "cn-north-1",
            "rtc.volcengineapi.com",
            "/",
            &query(action),
            body.as_bytes(),
            vector_time(),
        )
    }

    fn header<'a>(headers: &'a [(&'static str, String)], name: &str) -> &'a str {
        &headers.iter().find(|(k, _)| *k == name).unwrap().1
    }

    #[test]
    fn vector_1_quality() {
        assert_eq!(
            sha256_hex(QUALITY_BODY.as_bytes()),
            "55a74f6f91e69cf2ded8cf269773d7918d1fdd51557732daa02b7145cfc7b0fd"
        );
        assert_eq!(
            hex::encode(signing_key("c2VjcmV0", "20261123", "cn-north-1", "rtc")),
            "680ec53c6f25da8ee614fcb2a32f198461d8725b0fd5a505772c91f3e7ca618e"
        );
        let q = query("ListRealTimeQuality");
        let headers = vec![
            ("Content-Type".to_string(), "application/json".to_string()),
            ("X-Date".to_string(), "20261123T120000Z".to_string()),
            (
                "X-Content-Sha256".to_string(),
                sha256_hex(QUALITY_BODY.as_bytes()),
            ),
        ];
        let hash = sha256_hex(QUALITY_BODY.as_bytes());
        let parts = RequestParts {
            method: "POST",
            host: "rtc.volcengineapi.com",
            path: "/",
            query: &q,
            headers: &headers,
            body_sha256: &hash,
        };
        let (canonical, signed) = canonical_request(&parts);
        assert_eq!(
            sha256_hex(canonical.as_bytes()),
            "0f1b277e9b808b5f0d0a851ab9b226c0980a462e1ae7c2ac4508fb5bec9e9194"
        );
        assert_eq!(signed, "content-type;host;x-content-sha256;x-date");

        let signed = sign_vector("ListRealTimeQuality", QUALITY_BODY, None);
        assert_eq!(header(&signed, "X-Date"), "20261123T120000Z");
        assert_eq!(
            header(&signed, "X-Content-Sha256"),
            "55a74f6f91e69cf2ded8cf269773d7918d1fdd51557732daa02b7145cfc7b0fd"
        );
        assert_eq!(
            header(&signed, "Authorization"),
            "HMAC-SHA256 Credential=AKLTtest/20261123/cn-north-1/rtc/request, SignedHeaders=content-type;host;x-content-sha256;x-date, Signature=71a7e46103d04c1a6633f7a65c2828b4130395c7c19f38749aaf58ef06889f5c"
        );
    }

    #[test]
    fn vector_2_session_token() {
        let signed = sign_vector("ListRealTimeQuality", QUALITY_BODY, Some("STSTOKENtest"));
        assert_eq!(header(&signed, "X-Security-Token"), "STSTOKENtest");
        assert_eq!(
            header(&signed, "Authorization"),
            "HMAC-SHA256 Credential=AKLTtest/20261123/cn-north-1/rtc/request, SignedHeaders=content-type;host;x-content-sha256;x-date;x-security-token, Signature=65e0b0592def8f315f0a32994bafd56eaccdbb5fea3b2a8758fc928751d2d318"
        );
    }

    #[test]
    fn vector_3_operation() {
        let signed = sign_vector("ListRealTimeOperationData", OPERATION_BODY, None);
        assert_eq!(
            header(&signed, "X-Content-Sha256"),
            "7377000654c837db8fe5a76f35f5f79e9c647ff21570d3881091c6d20cab4f4e"
        );
        assert!(header(&signed, "Authorization").ends_with(
            "Signature=b19cfc88df7dab044e24cbd0b7581a30538939ff9e951eb66b59e858783ba523"
        ));
    }

    #[test]
    fn default_ports_are_dropped_from_host() {
        let a = sign_vector("ListRealTimeQuality", QUALITY_BODY, None);
        let creds = Credentials::new("AKLTtest", "c2VjcmV0", None, "test");
        for host in ["rtc.volcengineapi.com:443", "rtc.volcengineapi.com:80"] {
            let b = sign_post(
                &creds,
                "cn-north-1",
                host,
                "/",
                &query("ListRealTimeQuality"),
                QUALITY_BODY.as_bytes(),
                vector_time(),
            );
            assert_eq!(header(&a, "Authorization"), header(&b, "Authorization"));
        }
        let other_port = sign_post(
            &creds,
            "cn-north-1",
            "rtc.volcengineapi.com:8443",
            "/",
            &query("ListRealTimeQuality"),
            QUALITY_BODY.as_bytes(),
            vector_time(),
        );
        assert_ne!(
            header(&a, "Authorization"),
            header(&other_port, "Authorization")
        );
    }

    #[test]
    fn query_encoding_sorts_and_escapes() {
        let q = vec![
            ("b".to_string(), "x y".to_string()),
            ("a".to_string(), "1/2~".to_string()),
        ];
        let parts = RequestParts {
            method: "post",
            host: "h",
            path: "",
            query: &q,
            headers: &[],
            body_sha256: "e3",
        };
        let (canonical, signed) = canonical_request(&parts);
        assert_eq!(canonical, "POST\n/\na=1%2F2~&b=x%20y\nhost:h\n\nhost\ne3");
        assert_eq!(signed, "host");
    }

    #[test]
    fn authorization_round_trips() {
        let signed = sign_vector("ListRealTimeQuality", QUALITY_BODY, Some("tok"));
        let auth = parse_authorization(header(&signed, "Authorization")).unwrap();
        assert_eq!(auth.access_key, "AKLTtest");
        assert_eq!(auth.date, "20261123");
        assert_eq!(auth.region, "cn-north-1");
        assert_eq!(auth.service, "rtc");
        assert_eq!(
            auth.signed_headers,
            [
                "content-type",
                "host",
                "x-content-sha256",
                "x-date",
                "x-security-token"
            ]
        );
        assert_eq!(auth.signature.len(), 64);
        assert_eq!(parse_authorization("Bearer abc"), None);
        assert_eq!(
            parse_authorization("HMAC-SHA256 Credential=a/b/c, Signature=x"),
            None
        );
    }
}
