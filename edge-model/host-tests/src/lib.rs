//! A component started under `wasmtime serve` on a free loopback port, and a small HTTP client.
//!
//! The components are built by `scripts/build-components.sh` into `target/components/` (served:
//! their `local/` build, the deployed component with its configuration bridged to what `wasmtime
//! serve` provides), and `wasmtime` is found on `WASMTIME`, in the tools cache, or on `PATH`;
//! `scripts/test.sh` provides both.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Served {
    child: Child,
    pub base_url: String,
}

/// The key the tests' components sign with (the Spin variable `signing_key`); a test value, known
/// to the test suites only. (No comma: `wasmtime serve -S config-var=` splits its value there.)
pub const TEST_SIGNING_KEY: &str = "moodwing-host-tests-signing-key-for-tests-only";

impl Served {
    /// Serve the component `<name>` as Spin runs it (a fresh instance for every request), signing
    /// with [`TEST_SIGNING_KEY`]. Waits until it answers.
    pub fn start(name: &str, health_path: &str) -> Self {
        Self::start_with_key(name, health_path, Some(TEST_SIGNING_KEY))
    }

    /// The same with another key, or none (a deployment without `signing_key`).
    pub fn start_with_key(name: &str, health_path: &str, signing_key: Option<&str>) -> Self {
        let mut config = vec!["-S".to_owned(), "config".to_owned()];
        if let Some(key) = signing_key {
            config.extend(["-S".to_owned(), format!("config-var=signing_key={key}")]);
        }
        Self::start_with(
            name,
            health_path,
            &[
                &["--max-instance-reuse-count".to_owned(), "1".to_owned()],
                &config[..],
            ]
            .concat(),
        )
    }

    fn start_with(name: &str, health_path: &str, serve_args: &[String]) -> Self {
        let component = components_dir().join(format!("local/{name}.wasm"));
        assert!(
            component.is_file(),
            "{} is missing: run scripts/build-components.sh first",
            component.display()
        );
        // wasmtime binds the port it is given; another process may take it between our check
        // and its bind (any client connection's ephemeral port): it then exits, and we try another.
        for _ in 0..5 {
            let port = free_port();
            let child = Command::new(wasmtime())
                .args([
                    "serve",
                    "--addr",
                    &format!("127.0.0.1:{port}"),
                    "-S",
                    "cli=y",
                ])
                .args(serve_args)
                .arg(&component)
                .stdout(Stdio::null())
                .stderr(Stdio::inherit())
                .spawn()
                .expect("wasmtime starts");
            let mut served = Self {
                child,
                base_url: format!("http://127.0.0.1:{port}"),
            };
            let deadline = Instant::now() + Duration::from_secs(60);
            loop {
                if served.child.try_wait().ok().flatten().is_some() {
                    break; // it could not start (its error is above): another port
                }
                let answered = served.request("GET", health_path, None, b"").is_some();
                // Answered, and by our process: it is still running.
                if answered && served.child.try_wait().ok().flatten().is_none() {
                    return served;
                }
                assert!(
                    Instant::now() < deadline,
                    "{name} did not answer within 60 s"
                );
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        panic!("wasmtime serve {name} did not start on any of 5 ports")
    }

    /// Send a request; `None` only when nothing answered (connection refused or reset).
    /// Panics when the answer says the request built the model: every instance of a
    /// pre-initialized component starts with it built, and each request is a fresh instance.
    pub fn request(
        &self,
        method: &str,
        path: &str,
        content_type: Option<&str>,
        body: &[u8],
    ) -> Option<Reply> {
        let mut request = ureq::request(method, &format!("{}{path}", self.base_url))
            .timeout(Duration::from_secs(60));
        if let Some(content_type) = content_type {
            request = request.set("content-type", content_type);
        }
        let response = match request.send_bytes(body) {
            Ok(response) | Err(ureq::Error::Status(_, response)) => response,
            Err(ureq::Error::Transport(_)) => return None,
        };
        let headers = response
            .headers_names()
            .into_iter()
            .map(|name| {
                let value = response.header(&name).unwrap_or_default().to_owned();
                (name, value)
            })
            .collect();
        let status = response.status();
        let body = response.into_string().unwrap_or_default();
        let reply = Reply {
            status,
            headers,
            body,
        };
        assert_eq!(
            reply.header("server-timing"),
            None,
            "{method} {path} built the model: the component is not pre-initialized ({reply:?})"
        );
        Some(reply)
    }

    pub fn post_json(&self, path: &str, body: &serde_json::Value) -> Reply {
        self.request(
            "POST",
            path,
            Some("application/json"),
            body.to_string().as_bytes(),
        )
        .expect("an answer")
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.body))
    }
}

pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("workspace root")
}

/// Where `scripts/build-components.sh` puts the components (or `MOODWING_COMPONENTS`).
pub fn components_dir() -> PathBuf {
    std::env::var_os("MOODWING_COMPONENTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target/components"))
}

fn wasmtime() -> PathBuf {
    if let Some(path) = std::env::var_os("WASMTIME") {
        return PathBuf::from(path);
    }
    let cache = std::env::var_os("MOODWING_CACHE")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| Path::new(&home).join(".cache/moodwing")));
    match cache.map(|dir| dir.join("tools/bin/wasmtime")) {
        Some(path) if path.is_file() => path,
        _ => PathBuf::from("wasmtime"),
    }
}

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a free port");
    listener.local_addr().expect("local address").port()
}
