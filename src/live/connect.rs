//! Building a client like kubectl: `--kubeconfig`, `KUBECONFIG`, `~/.kube/config`, or the
//! in-cluster service account; `--context`; a request timeout; no hidden retries.

use kube::config::{Config, KubeConfigOptions, Kubeconfig};
use std::path::PathBuf;
use std::time::Duration;

#[derive(Clone, Debug, Default)]
pub struct ConnectOptions {
    pub kubeconfig: Option<PathBuf>,
    pub context: Option<String>,
    pub timeout: Duration,
}

/// A ready client plus what to say about it in messages.
#[derive(Clone)]
pub struct Connection {
    pub client: kube::Client,
    pub server: String,
    pub context: String,
    pub timeout: Duration,
}

/// The kubeconfig (or in-cluster setup) is unusable: bad input, exit 2.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConnectError(pub String);

/// Loads the configuration and builds a client; nothing is sent to the server yet.
pub async fn connect(opts: &ConnectOptions) -> Result<Connection, ConnectError> {
    let kube_opts = KubeConfigOptions {
        context: opts.context.clone(),
        ..KubeConfigOptions::default()
    };
    let (mut config, _source, context) = match &opts.kubeconfig {
        Some(path) => {
            let kc = Kubeconfig::read_from(path).map_err(|e| {
                ConnectError(format!("kubeconfig {}: {}", path.display(), redacted(&e)))
            })?;
            let ctx = selected_context(&kc, &opts.context, &path.display().to_string())?;
            let cfg = Config::from_custom_kubeconfig(kc, &kube_opts)
                .await
                .map_err(|e| {
                    ConnectError(format!("kubeconfig {}: {}", path.display(), redacted(&e)))
                })?;
            (cfg, path.display().to_string(), ctx)
        }
        None => match Kubeconfig::read() {
            Ok(kc) => {
                let source =
                    std::env::var("KUBECONFIG").unwrap_or_else(|_| "~/.kube/config".into());
                let ctx = selected_context(&kc, &opts.context, &source)?;
                let cfg = Config::from_custom_kubeconfig(kc, &kube_opts)
                    .await
                    .map_err(|e| ConnectError(format!("kubeconfig {source}: {}", redacted(&e))))?;
                (cfg, source, ctx)
            }
            Err(file_err) => match Config::incluster() {
                Ok(cfg) if opts.context.is_none() => (
                    cfg,
                    "in-cluster service account".into(),
                    "in-cluster".into(),
                ),
                _ => {
                    return Err(ConnectError(format!(
                        "no usable kubeconfig ({}) and not running in a cluster; pass --kubeconfig FILE or --snapshot FILE",
                        redacted(&file_err)
                    )));
                }
            },
        },
    };
    // kube retries 429/503/504 by default with backoff, which turned one failing LIST into
    // minutes; a doctor must answer within its timeout, so every call gets one try.
    config.default_retry = false;
    config.connect_timeout = Some(opts.timeout);
    config.read_timeout = Some(opts.timeout);
    config.write_timeout = Some(opts.timeout);
    let server = config.cluster_url.to_string();
    let client = kube::Client::try_from(config).map_err(|e| {
        ConnectError(format!(
            "cannot build a client for {server} (context {context}): {}",
            chain(&e)
        ))
    })?;
    Ok(Connection {
        client,
        server,
        context,
        timeout: opts.timeout,
    })
}

fn selected_context(
    kc: &Kubeconfig,
    wanted: &Option<String>,
    source: &str,
) -> Result<String, ConnectError> {
    let Some(name) = wanted.clone().or_else(|| kc.current_context.clone()) else {
        return Err(ConnectError(format!(
            "kubeconfig {source}: no current-context set; pass --context"
        )));
    };
    if !kc.contexts.iter().any(|c| c.name == name) {
        let known: Vec<&str> = kc.contexts.iter().map(|c| c.name.as_str()).collect();
        return Err(ConnectError(format!(
            "kubeconfig {source}: context {name:?} not found (contexts: {})",
            if known.is_empty() {
                "none".to_string()
            } else {
                known.join(", ")
            }
        )));
    }
    Ok(name)
}

/// A kubeconfig error for a person: the first line only (parsers append a snippet of the
/// file, which may hold a token) with quoted text redacted.
fn redacted(e: &dyn std::error::Error) -> String {
    let text = chain(e);
    let first = text.lines().next().unwrap_or_default();
    let mut out = String::with_capacity(first.len());
    let mut quote: Option<char> = None;
    for c in first.chars() {
        match quote {
            Some(q) if c == q => {
                out.push('…');
                out.push(c);
                quote = None;
            }
            Some(_) => {}
            None => {
                out.push(c);
                if c == '"' || c == '`' {
                    quote = Some(c);
                }
            }
        }
    }
    out
}

/// An error and its sources on one line.
pub fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(src) = cur {
        let t = src.to_string();
        if !s.contains(&t) {
            s.push_str(": ");
            s.push_str(&t);
        }
        cur = src.source();
    }
    s
}
