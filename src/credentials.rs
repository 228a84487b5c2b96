//! Access keys, found where the official SDKs look for them, and kept out of
//! every log line, error message and `Debug` output.

use std::fmt;
use std::path::{Path, PathBuf};

use thiserror::Error;

/// A secret string whose `Debug` and `Display` never show the value.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The value itself, for the signer only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// An access key pair, optionally with an STS session token.
#[derive(Clone, Debug)]
pub struct Credentials {
    pub access_key: String,
    secret_key: Secret,
    session_token: Option<Secret>,
    /// Where they were found, for messages (never the values).
    pub origin: String,
}

impl Credentials {
    pub fn new(
        access_key: impl Into<String>,
        secret_key: impl Into<String>,
        session_token: Option<String>,
        origin: impl Into<String>,
    ) -> Self {
        Credentials {
            access_key: access_key.into(),
            secret_key: Secret::new(secret_key),
            session_token: session_token.filter(|t| !t.is_empty()).map(Secret::new),
            origin: origin.into(),
        }
    }

    pub fn secret_key(&self) -> &str {
        self.secret_key.expose()
    }

    pub fn session_token(&self) -> Option<&str> {
        self.session_token.as_ref().map(Secret::expose)
    }
}

#[derive(Debug, Error)]
pub enum CredentialsError {
    #[error(
        "no credentials: set VOLC_ACCESSKEY and VOLC_SECRETKEY, or write access_key_id and \
         secret_access_key under [default] in {}",
        .credentials_file.display()
    )]
    Missing { credentials_file: PathBuf },
    #[error("{set} is set but {missing} is not: set both, or neither to use ~/.volc/credentials")]
    Half {
        set: &'static str,
        missing: &'static str,
    },
    #[error("{}: {problem}; fix the file or set VOLC_ACCESSKEY and VOLC_SECRETKEY instead", .path.display())]
    BadFile { path: PathBuf, problem: String },
}

/// Reads credentials from the environment and the home directory, in the
/// order of the official SDKs:
/// 1. `VOLC_ACCESSKEY` + `VOLC_SECRETKEY` (+ `VOLC_SESSIONTOKEN`);
/// 2. `VOLCSTACK_ACCESS_KEY_ID` + `VOLCSTACK_SECRET_ACCESS_KEY` (+ `VOLCSTACK_SESSION_TOKEN`);
/// 3. `~/.volc/credentials`, INI section `[default]`: `access_key_id`,
///    `secret_access_key` (and `session_token`);
/// 4. `~/.volc/config`, JSON `{"ak": …, "sk": …}`.
pub fn discover(
    env: impl Fn(&str) -> Option<String>,
    home: Option<&Path>,
) -> Result<Credentials, CredentialsError> {
    let get = |k: &str| env(k).filter(|v| !v.is_empty());
    for (ak_var, sk_var, token_var) in [
        ("VOLC_ACCESSKEY", "VOLC_SECRETKEY", "VOLC_SESSIONTOKEN"),
        (
            "VOLCSTACK_ACCESS_KEY_ID",
            "VOLCSTACK_SECRET_ACCESS_KEY",
            "VOLCSTACK_SESSION_TOKEN",
        ),
    ] {
        match (get(ak_var), get(sk_var)) {
            (Some(ak), Some(sk)) => {
                return Ok(Credentials::new(
                    ak,
                    sk,
                    get(token_var),
                    format!("environment ({ak_var}, {sk_var})"),
                ));
            }
            (Some(_), None) => {
                return Err(CredentialsError::Half {
                    set: ak_var,
                    missing: sk_var,
                });
            }
            (None, Some(_)) => {
                return Err(CredentialsError::Half {
                    set: sk_var,
                    missing: ak_var,
                });
            }
            (None, None) => {}
        }
    }

    let dir = home.map(|h| h.join(".volc"));
    let credentials_file = dir
        .as_ref()
        .map(|d| d.join("credentials"))
        .unwrap_or_else(|| PathBuf::from("~/.volc/credentials"));
    if let Some(dir) = dir {
        let ini_path = dir.join("credentials");
        if ini_path.exists() {
            return read_ini(&ini_path);
        }
        let json_path = dir.join("config");
        if json_path.exists() {
            return read_json(&json_path);
        }
    }
    Err(CredentialsError::Missing { credentials_file })
}

/// Warns when a file holding secrets can be read by other users.
pub fn warn_if_readable_by_others(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(meta) = std::fs::metadata(path)
            && meta.permissions().mode() & 0o077 != 0
        {
            tracing::warn!(
                file = %path.display(),
                mode = format!("{:o}", meta.permissions().mode() & 0o777),
                "file is readable by other users: chmod 600 it"
            );
        }
    }
}

fn read_ini(path: &Path) -> Result<Credentials, CredentialsError> {
    let bad = |problem: String| CredentialsError::BadFile {
        path: path.to_path_buf(),
        problem,
    };
    warn_if_readable_by_others(path);
    let ini = ini::Ini::load_from_file(path).map_err(|e| bad(e.to_string()))?;
    let section = ini
        .section(Some("default"))
        .ok_or_else(|| bad("no [default] section".into()))?;
    let field = |k: &str| section.get(k).map(str::trim).filter(|v| !v.is_empty());
    let ak = field("access_key_id").ok_or_else(|| bad("[default] has no access_key_id".into()))?;
    let sk = field("secret_access_key")
        .ok_or_else(|| bad("[default] has no secret_access_key".into()))?;
    Ok(Credentials::new(
        ak,
        sk,
        field("session_token").map(str::to_string),
        path.display().to_string(),
    ))
}

fn read_json(path: &Path) -> Result<Credentials, CredentialsError> {
    #[derive(serde::Deserialize)]
    struct VolcConfig {
        ak: Option<String>,
        sk: Option<String>,
    }
    let bad = |problem: String| CredentialsError::BadFile {
        path: path.to_path_buf(),
        problem,
    };
    warn_if_readable_by_others(path);
    let text = std::fs::read_to_string(path).map_err(|e| bad(e.to_string()))?;
    // serde_json's message names the position, never the content.
    let cfg: VolcConfig = serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?;
    match (cfg.ak, cfg.sk) {
        (Some(ak), Some(sk)) if !ak.is_empty() && !sk.is_empty() => {
            Ok(Credentials::new(ak, sk, None, path.display().to_string()))
        }
        _ => Err(bad("needs both \"ak\" and \"sk\"".into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn environment_wins() {
        let c = discover(
            env(&[
                ("VOLC_ACCESSKEY", "ak"),
                ("VOLC_SECRETKEY", "sk"),
                ("VOLC_SESSIONTOKEN", "tok"),
            ]),
            None,
        )
        .unwrap();
        assert_eq!(c.access_key, "ak");
        assert_eq!(c.secret_key(), "sk");
        assert_eq!(c.session_token(), Some("tok"));
    }

    #[test]
    fn volcstack_variables_are_read() {
        let c = discover(
            env(&[
                ("VOLCSTACK_ACCESS_KEY_ID", "ak2"),
                ("VOLCSTACK_SECRET_ACCESS_KEY", "sk2"),
            ]),
            None,
        )
        .unwrap();
        assert_eq!(c.access_key, "ak2");
        assert_eq!(c.session_token(), None);
    }

    #[test]
    fn half_set_environment_is_an_error() {
        let e = discover(env(&[("VOLC_ACCESSKEY", "ak")]), None).unwrap_err();
        assert!(e.to_string().contains("VOLC_SECRETKEY"), "{e}");
    }

    #[test]
    fn credentials_file_then_config_file() {
        let home = tempfile::tempdir().unwrap();
        let dir = home.path().join(".volc");
        std::fs::create_dir(&dir).unwrap();
        assert!(matches!(
            discover(env(&[]), Some(home.path())),
            Err(CredentialsError::Missing { .. })
        ));

        std::fs::write(dir.join("config"), r#"{"ak": "jak", "sk": "jsk"}"#).unwrap();
        let c = discover(env(&[]), Some(home.path())).unwrap();
        assert_eq!((c.access_key.as_str(), c.secret_key()), ("jak", "jsk"));

        std::fs::write(
            dir.join("credentials"),
            "[default]\naccess_key_id = iak\nsecret_access_key = isk\n",
        )
        .unwrap();
        let c = discover(env(&[]), Some(home.path())).unwrap();
        assert_eq!((c.access_key.as_str(), c.secret_key()), ("iak", "isk"));

        std::fs::write(dir.join("credentials"), "[other]\naccess_key_id = x\n").unwrap();
        let e = discover(env(&[]), Some(home.path())).unwrap_err();
        assert!(e.to_string().contains("no [default] section"), "{e}");
    }

    #[test]
    fn debug_never_shows_secrets() {
        let c = Credentials::new("AKLTvisible", "topsecret", Some("tokensecret".into()), "t");
        let shown = format!("{c:?}");
        assert!(shown.contains("AKLTvisible"));
        assert!(!shown.contains("topsecret"));
        assert!(!shown.contains("tokensecret"));
    }
}
