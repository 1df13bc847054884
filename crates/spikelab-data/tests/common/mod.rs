//! Helpers shared by the integration tests: the shared data folder and a tiny HTTP
//! server on 127.0.0.1 that serves files from memory and counts requests.
#![allow(dead_code)]

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// `../shared/data` beside the worktree (or `$SPIKELAB_SHARED_DATA`), if it is there.
pub fn shared_data() -> Option<PathBuf> {
    let p = std::env::var_os("SPIKELAB_SHARED_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"));
    p.join("README.md").is_file().then_some(p)
}

/// A test HTTP server: `GET /<name>` answers the bytes of `name` or 404.
pub struct Server {
    pub base_url: String,
    pub hits: Arc<AtomicUsize>,
    server: Arc<tiny_http::Server>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Server {
    pub fn start(files: HashMap<String, Vec<u8>>) -> Server {
        let server = Arc::new(tiny_http::Server::http("127.0.0.1:0").unwrap());
        let port = server.server_addr().to_ip().unwrap().port();
        let hits = Arc::new(AtomicUsize::new(0));
        let (s, h) = (server.clone(), hits.clone());
        let thread = std::thread::spawn(move || {
            for req in s.incoming_requests() {
                h.fetch_add(1, Ordering::SeqCst);
                let name = req.url().trim_start_matches('/').to_string();
                let _ = match files.get(&name) {
                    Some(b) => req.respond(tiny_http::Response::from_data(b.clone())),
                    None => req.respond(tiny_http::Response::empty(404)),
                };
            }
        });
        Server {
            base_url: format!("http://127.0.0.1:{port}/"),
            hits,
            server,
            thread: Some(thread),
        }
    }

    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.server.unblock();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
