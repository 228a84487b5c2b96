//! The independent implementation of the API (tests/independent_api.py:
//! Python's hmac and http.server, written from the API notes alone), run as
//! a process on loopback for the tests that check the collector against
//! something that shares none of its code.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::{Env, read, wait_until};

/// The access key and secret the independent API accepts.
pub const ACCESS_KEY: &str = "AKLTindependent";
pub const SECRET_KEY: &str = "independent-secret";

/// A running independent API; killed when dropped.
pub struct Server {
    child: Child,
    pub port: u16,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    /// Starts it with `fault_rate` of faulty answers and values revised
    /// `revision_secs` after they are due; `vars` are its environment
    /// settings (`INDEPENDENT_LIMITS`, ...).
    pub fn start(env: &Env, fault_rate: f64, revision_secs: u64, vars: &[(&str, &str)]) -> Server {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/independent_api.py");
        let port_file = env.path("port");
        let child = Command::new("python3")
            .args([
                script,
                port_file.to_str().unwrap(),
                &fault_rate.to_string(),
                &revision_secs.to_string(),
            ])
            .envs(vars.iter().copied())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("python3 runs the independent API (it is on every machine of this kind)");
        assert!(
            wait_until(Duration::from_secs(20), || port_file.exists()),
            "the independent API did not start"
        );
        let port = read(&port_file).trim().parse().unwrap();
        Server { child, port }
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// `GET path` as JSON (`/stats`, `/truth`).
    pub fn get(&self, path: &str) -> serde_json::Value {
        self.request("GET", path)
    }

    /// Sets the API's clock to the machine's plus `offset_secs`, running
    /// (`POST /_clock?offset=`): the offset a collector under
    /// [`super::faketime`] runs with, so both sides share one clock.
    pub fn set_clock_offset(&self, offset_secs: i64) {
        let clock = self.request("POST", &format!("/_clock?offset={offset_secs}"));
        assert_eq!(clock["offset"], offset_secs as f64, "{clock}");
    }

    fn request(&self, method: &str, path: &str) -> serde_json::Value {
        let mut s = std::net::TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        write!(
            s,
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Length: 0\r\n\
             Connection: close\r\n\r\n",
            self.port
        )
        .unwrap();
        let mut text = String::new();
        s.read_to_string(&mut text).unwrap();
        let body = &text[text.find("\r\n\r\n").unwrap() + 4..];
        serde_json::from_str(body).unwrap()
    }
}

/// The real binary with the independent API's credentials, stderr dropped.
pub fn cmd(env: &Env) -> Command {
    let mut c = env.std_cmd();
    c.env("VOLC_ACCESSKEY", ACCESS_KEY)
        .env("VOLC_SECRETKEY", SECRET_KEY)
        .stderr(Stdio::null());
    c
}

/// The archive's real-time points, keyed as the independent API keys its
/// series in `/truth`: `action|app|room|users|indicator`.
pub fn archived_by_truth_key(env: &Env) -> BTreeMap<String, BTreeMap<i64, f64>> {
    let mut archived: BTreeMap<String, BTreeMap<i64, f64>> = BTreeMap::new();
    for p in super::samples(&env.conn()) {
        let action = if p.0 == "quality" {
            "ListRealTimeQuality"
        } else {
            "ListRealTimeOperationData"
        };
        let key = format!(
            "{action}|{}|{}|{}|{}",
            p.1,
            p.2.unwrap_or_default(),
            p.3.unwrap_or_default(),
            p.4
        );
        archived.entry(key).or_default().insert(p.5, p.6);
    }
    archived
}
