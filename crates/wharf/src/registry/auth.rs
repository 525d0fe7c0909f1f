//! Registry credentials: `wharf login`'s own file, then Docker's
//! `config.json` (its `auths`, `credHelpers` and `credsStore`), so that a
//! `docker login` already made works for wharf too.
//!
//! Both files use Docker's format: `{"auths": {"HOST": {"auth":
//! base64("USER:PASSWORD")}}}`. wharf's lives in the per-user config
//! directory (`~/.config/wharf/auth.json` on Linux), or `$WHARF_CONFIG`,
//! readable by its owner only.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

/// The environment variable naming wharf's config directory.
pub const CONFIG_ENV: &str = "WHARF_CONFIG";

/// A user name and password (or token) for a registry.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The user name.
    pub username: String,
    /// The password or access token.
    pub secret: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Credentials({}, ***)", self.username)
    }
}

/// The file `wharf login` writes.
pub fn wharf_auth_file() -> Result<PathBuf> {
    if let Some(dir) = std::env::var_os(CONFIG_ENV).filter(|v| !v.is_empty()) {
        return Ok(PathBuf::from(dir).join("auth.json"));
    }
    let dirs = directories::ProjectDirs::from("dev", "wharf", "wharf")
        .context("cannot find a config directory; set WHARF_CONFIG")?;
    Ok(dirs.config_dir().join("auth.json"))
}

fn docker_config_file() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("DOCKER_CONFIG").filter(|v| !v.is_empty()) {
        return Some(PathBuf::from(dir).join("config.json"));
    }
    directories::BaseDirs::new().map(|d| d.home_dir().join(".docker").join("config.json"))
}

/// The keys a registry may be filed under: Docker Hub has a historic one.
fn keys(registry: &str) -> Vec<String> {
    if matches!(
        registry,
        "docker.io" | "index.docker.io" | "registry-1.docker.io"
    ) {
        vec![
            "https://index.docker.io/v1/".into(),
            "docker.io".into(),
            "index.docker.io".into(),
        ]
    } else {
        vec![
            registry.to_owned(),
            format!("https://{registry}"),
            format!("http://{registry}"),
        ]
    }
}

fn read_json(path: &Path) -> Result<Option<Value>> {
    match std::fs::read(path) {
        Ok(bytes) => {
            Ok(Some(serde_json::from_slice(&bytes).with_context(|| {
                format!("{} is not valid JSON", path.display())
            })?))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

fn from_auths(config: &Value, registry: &str) -> Result<Option<Credentials>> {
    for key in keys(registry) {
        let Some(auth) = config["auths"][&key]["auth"].as_str() else {
            continue;
        };
        let decoded = STANDARD
            .decode(auth)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .with_context(|| {
                format!("the saved credentials for {registry} are not base64 USER:PASSWORD")
            })?;
        let (username, secret) = decoded.split_once(':').with_context(|| {
            format!("the saved credentials for {registry} are not USER:PASSWORD")
        })?;
        return Ok(Some(Credentials {
            username: username.to_owned(),
            secret: secret.to_owned(),
        }));
    }
    Ok(None)
}

/// Asks `docker-credential-HELPER get` for a registry's credentials.
fn from_helper(helper: &str, registry: &str) -> Result<Option<Credentials>> {
    let program = format!("docker-credential-{helper}");
    for key in keys(registry) {
        let child = Command::new(&program)
            .arg("get")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn();
        let mut child = match child {
            Ok(child) => child,
            Err(e) => {
                bail!("cannot run the credential helper {program} that Docker's config names: {e}")
            }
        };
        child
            .stdin
            .take()
            .expect("piped")
            .write_all(key.as_bytes())?;
        let output = child.wait_with_output()?;
        if !output.status.success() {
            continue; // "credentials not found"
        }
        let answer: Value = serde_json::from_slice(&output.stdout)
            .with_context(|| format!("{program} answered something other than JSON"))?;
        if let (Some(username), Some(secret)) =
            (answer["Username"].as_str(), answer["Secret"].as_str())
        {
            return Ok(Some(Credentials {
                username: username.to_owned(),
                secret: secret.to_owned(),
            }));
        }
    }
    Ok(None)
}

/// The credentials for `registry`, if any are saved.
pub fn lookup(registry: &str) -> Result<Option<Credentials>> {
    if let Some(config) = read_json(&wharf_auth_file()?)?
        && let Some(found) = from_auths(&config, registry)?
    {
        return Ok(Some(found));
    }
    let Some(path) = docker_config_file() else {
        return Ok(None);
    };
    let Some(config) = read_json(&path)? else {
        return Ok(None);
    };
    for key in keys(registry) {
        if let Some(helper) = config["credHelpers"][&key].as_str() {
            return from_helper(helper, registry);
        }
    }
    if let Some(found) = from_auths(&config, registry)? {
        return Ok(Some(found));
    }
    if let Some(store) = config["credsStore"].as_str() {
        return from_helper(store, registry);
    }
    Ok(None)
}

/// Saves credentials for `registry` in wharf's file.
pub fn save(registry: &str, credentials: &Credentials) -> Result<()> {
    let path = wharf_auth_file()?;
    let mut config = read_json(&path)?
        .filter(Value::is_object)
        .unwrap_or_else(|| json!({}));
    if !config["auths"].is_object() {
        config["auths"] = json!({});
    }
    let auth = STANDARD.encode(format!("{}:{}", credentials.username, credentials.secret));
    config["auths"][registry] = json!({ "auth": auth });
    write_private(&path, &serde_json::to_vec_pretty(&config)?)
}

/// Forgets the credentials for `registry`; whether there were any.
pub fn remove(registry: &str) -> Result<bool> {
    let path = wharf_auth_file()?;
    let Some(mut config) = read_json(&path)? else {
        return Ok(false);
    };
    let Some(auths) = config["auths"].as_object_mut() else {
        return Ok(false);
    };
    let removed = auths.remove(registry).is_some();
    if removed {
        write_private(&path, &serde_json::to_vec_pretty(&config)?)?;
    }
    Ok(removed)
}

/// Writes a file only its owner can read, atomically.
fn write_private(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().context("the auth file has no directory")?;
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    // NamedTempFile creates files readable by their owner only.
    let mut temp = tempfile::NamedTempFile::new_in(dir)?;
    temp.write_all(bytes)?;
    temp.persist(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_hub_has_its_historic_key_and_others_their_host() {
        assert_eq!(keys("docker.io")[0], "https://index.docker.io/v1/");
        assert_eq!(keys("localhost:5000")[0], "localhost:5000");
    }

    #[test]
    fn auths_decode_user_and_password() {
        let config = json!({"auths": {"r.example": {"auth": STANDARD.encode("me:s3cr:et")}}});
        let found = from_auths(&config, "r.example").unwrap().unwrap();
        assert_eq!(
            (found.username.as_str(), found.secret.as_str()),
            ("me", "s3cr:et")
        );
        assert!(from_auths(&config, "other.example").unwrap().is_none());
        let bad = json!({"auths": {"r.example": {"auth": "!!!"}}});
        assert!(from_auths(&bad, "r.example").is_err());
    }

    #[test]
    fn secrets_do_not_show_in_debug_output() {
        let c = Credentials {
            username: "me".into(),
            secret: "hunter2".into(),
        };
        assert!(!format!("{c:?}").contains("hunter2"));
    }
}
